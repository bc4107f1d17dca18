"""Price bases: parsing, the rental price a basis picks (provider, term, date, market median), platforms."""

import pytest

from infersim.cli import main
from infersim.cost.inputs import rental_range
from infersim.cost.tco import chip_hour_cost
from infersim.errors import InfersimError
from infersim.specs.price_basis import parse_price_basis


def test_parse_forms_and_the_older_names():
    assert parse_price_basis("auto").text == "owner" and parse_price_basis("bom").text == "owner:bom"
    b = parse_price_basis("rental:GCP:3yr@2025-03")
    assert (b.view, b.provider, b.term, b.as_of) == ("rental", "gcp", "3yr", "2025-03")
    for bad in ("rental:gcp", "rental:gcp:5yr", "rent:gcp:3yr", "owner:cheap", "rental:gcp:3yr@March",
                "rental:gcp:3yr@2025-13", "rental:gcp:3yr@2025-13-45", "rental:gcp:3yr@2025-02-30"):
        with pytest.raises(InfersimError, match="not understood"):
            parse_price_basis(bad)


def test_rental_price_by_provider_date_and_market(lib):
    h100 = lib.chip("nvidia-h100-sxm")
    # AWS on-demand: $98.32 / 8 = $12.29 in Mar-2025, $55.04 / 8 = $6.88 after the Jun-2025 cut
    assert rental_range(h100, parse_price_basis("rental:aws:on_demand@2025-03")).central == 12.29
    assert rental_range(h100, parse_price_basis("rental:aws:on_demand")).central == 6.88
    # the market: every provider's newest on-demand price; median central, cheapest and dearest the range
    m = rental_range(h100, parse_price_basis("rental:market:on_demand"))
    newest = {}
    for r in h100.price.rental:
        if r.term == "on_demand" and (r.provider not in newest or r.date > newest[r.provider].date):
            newest[r.provider] = r
    prices = sorted(r.usd_per_chip_hour for r in newest.values())
    assert (m.low, m.high) == (prices[0], prices[-1]) and m.low <= m.central <= m.high
    with pytest.raises(InfersimError, match="no 3yr rental price from gcp on or before 2024-01"):
        rental_range(h100, parse_price_basis("rental:gcp:3yr@2024-01"))


def test_a_renter_pays_the_rent_and_an_owner_the_parts(lib):
    budget = lib.budget("central-2025")
    v6e = lib.chip("google-tpu-v6e")
    plat = lib.platform_of(v6e)
    rent = chip_hour_cost(v6e, budget, "rental:gcp:3yr", plat)
    assert rent.total_usd_per_hour == rent.rent_usd_per_hour == 1.22 and rent.chip_usd_per_hour == 0
    own = chip_hour_cost(v6e, budget, "owner", plat)
    assert own.rent_usd_per_hour == 0 and own.server_usd_per_hour > 0 and own.total_usd_per_hour < 1.22
    # GB200 sits in the NVL72 rack, not an HGX server
    assert lib.platform_of(lib.chip("nvidia-gb200")).id == "nvidia-nvl72"


def test_compare_by_rental_basis_names_it_and_skips_chips_without_a_price(capsys):
    code = main(["compare", "--model", "llama-3.1-8b", "--chips", "google-tpu-v6e,nvidia-h100-sxm,google-tpu-v7",
                 "--price-basis", "rental:gcp:3yr"])
    out = capsys.readouterr().out
    assert code == 0 and "price basis rental:gcp:3yr" in out
    assert "skipped google-tpu-v7" in out and "no 3yr rental price from gcp" in out
    with pytest.raises(SystemExit) as stop:   # an option error: argparse's one line and exit 2
        main(["tco", "--chips", "nvidia-h100-sxm", "--price-basis", "rental:gcp:forever"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and "rental:gcp:forever" in err
