"""`validate` reads its CSV against the schema (revision 3): a bad row is reported with its line and
the reason, the good ones are still predicted; a bad file is one line and exit 2."""

import csv
import io
from pathlib import Path

import pytest

from infersim.accuracy.predict import read_rows, run_validation
from infersim.accuracy.rows import OPTIONAL, REQUIRED
from infersim.cli import main

ACC = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy"
SOURCE = (ACC / "calibration.csv").read_text(encoding="utf-8").splitlines()
# the revision-2 columns (the bundled file also has revision 3's, empty for these rows): the tests add
# revision-3 columns of their own
HEADER = list(REQUIRED) + ["notes"]
BASE = ",".join(HEADER)
_FULL = SOURCE[0].split(",")
TRT_ROW = [dict(zip(_FULL, next(csv.reader([SOURCE[54]]))))[c] for c in HEADER]   # CAL-054: H100 x2 TP2, Llama-3.3-70B fp8, 1000/1000, offline


def line(**fields) -> str:
    cells = list(TRT_ROW)
    for k, v in fields.items():
        cells[HEADER.index(k)] = v
    buf = io.StringIO()
    csv.writer(buf).writerow(cells)
    return buf.getvalue().strip()


def write(tmp_path, lines, header=None) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text("\n".join([header or BASE, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fields, reason", [
    ({"value": "-5"}, "value '-5' must be > 0"),
    ({"value": ""}, "value is empty"),
    ({"num_chips": "0"}, "num_chips '0' must be a whole number >= 1"),
    ({"num_chips": "1.5"}, "num_chips '1.5' must be a whole number >= 1"),
    ({"batch": "-5"}, "batch '-5' must be a whole number >= 1"),
    ({"tp": "4"}, "tp x pp x attn_dp = 4 chips per replica exceeds num_chips 2"),
    ({"num_chips": "3", "tp": "2"}, "num_chips 3 is not a whole number of replicas"),
    ({"mode": "burst"}, "mode 'burst' is not one of"),
    ({"metric": "latency"}, "metric 'latency' is not one of"),
    ({"weight_dtype": "fp12"}, "weight_dtype 'fp12' is not one of"),
    ({"input_len": "abc"}, "input_len 'abc' is not a number"),
    ({"load_qps": "inf"}, "load_qps 'inf' is not a finite number"),
    ({"hardware": ""}, "hardware is empty"),
])
def test_a_bad_row_is_reported_with_its_line_and_the_others_predicted(lib, tmp_path, fields, reason):
    path = write(tmp_path, [line(id="GOOD-1"), line(id="BAD-1", **fields), line(id="GOOD-2")])
    rows = read_rows(path)
    assert list(rows.table["id"]) == ["GOOD-1", "GOOD-2"]
    assert [(b.line, b.id) for b in rows.invalid] == [(3, "BAD-1")]
    assert reason in rows.invalid[0].reason
    report = run_validation(lib, rows)
    assert len(report.rows) == 2 and report.summary()["invalid"] == 1


def test_duplicate_ids_and_short_rows_are_invalid(tmp_path):
    path = write(tmp_path, [line(id="A"), line(id="A"), "B,nvidia-h100-sxm,1"])
    rows = read_rows(path)
    assert [str(b) for b in rows.invalid] == ["line 3 (A): id 'A' appears on an earlier line",
                                              f"line 4 (B): 3 fields where the header has {len(HEADER)}"]


def test_a_quoted_field_over_two_lines_keeps_the_line_numbers(tmp_path):
    multi = line(id="M-1", notes="first line\nsecond line")
    path = write(tmp_path, [multi, line(id="BAD", num_chips="0")])
    rows = read_rows(path)
    assert list(rows.table["id"]) == ["M-1"] and rows.invalid[0].line == 4   # M-1 spans lines 2-3


def test_revision_3_columns_are_optional_and_checked(tmp_path):
    header = ",".join(HEADER + ["concurrency", "attn_dp", "prefill_chips", "decode_chips"])
    ok = line(id="C-1", mode="concurrency") + ",64,,,"
    bad = line(id="C-2", mode="concurrency") + ",0,,,"
    pools = line(id="D-1", mode="disagg", tp="", num_chips="8") + ",16,,4,2"
    rows = read_rows(write(tmp_path, [ok, bad, pools], header=header))
    assert list(rows.table["id"]) == ["C-1"] and rows.table.iloc[0]["concurrency"] == 64
    assert "concurrency '0' must be a whole number >= 1" in rows.invalid[0].reason
    assert "prefill_chips 4 + decode_chips 2 != num_chips 8" in rows.invalid[1].reason
    # a revision-2 file has every revision-3 column, empty
    assert set(OPTIONAL) <= set(read_rows(ACC / "calibration.csv").table.columns)
    assert set(REQUIRED) <= set(HEADER)


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    (BASE + "\n", "no data rows (only a header)"),
    ("id,hardware\nX,nvidia-h100-sxm\n", "missing column(s)"),
    (BASE + ",id\n", "appear twice in the header"),
])
def test_a_bad_file_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_lists_invalid_rows_and_predicts_the_rest(tmp_path, capsys):
    path = write(tmp_path, [line(id="GOOD-1"), line(id="BAD-1", num_chips="1.5")])
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "GOOD-1" in out and "predicted 1 of 2 rows" in out and "invalid (schema): 1" in out
    assert "line 3 (BAD-1): num_chips '1.5' must be a whole number >= 1" in out


# ---- the row's exact deployment ------------------------------------------------------------------

def plan_of(lib, **fields):
    from infersim.accuracy.plan import plan_row

    row = read_rows(write_tmp(line(**fields))).table.iloc[0].to_dict()
    return plan_row(lib, row)


def write_tmp(text):
    import tempfile

    f = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8")
    f.write(BASE + "\n" + text + "\n")
    f.close()
    return Path(f.name)


def test_every_chip_of_the_row_is_used(lib):
    """8 x H100 without a mapping: only mappings of exactly 8 chips (a search that may use fewer once
    picked TP1 PP5, 5 GPUs); single-stage ones first, as engines run them."""
    plan = plan_of(lib, num_chips="8", tp="", pp="")
    assert plan.mapping.chips == 8 and plan.mapping.pp == 1
    assert "best of those using all 8 chips" in plan.used["mapping"]


def test_a_mapping_that_does_not_hold_the_model_is_not_replaced(lib):
    from infersim.accuracy.plan import Skip

    # Llama-3.1-405B in bf16 (811 GB) on two H100 (80 GB each) as TP2: not predicted, never re-mapped
    with pytest.raises(Skip, match="the row.s mapping tp2 does not hold llama-3.1-405b"):
        plan_of(lib, model="llama-3.1-405b", weight_dtype="bf16")


def test_empty_fields_take_the_schema_defaults_and_are_recorded(lib):
    # 70B fp8 = 70.6 GB of weights: one H100 (80 GB, 90 % usable = 72 GB) cannot also hold KV for 8 x 2,000
    # tokens (8 x 2000 x 163,840 B = 2.6 GB) -> TP2, the smallest vendor-style deployment
    plan = plan_of(lib, num_chips="", tp="", pp="")
    assert (plan.mapping.tp, plan.mapping.pp, plan.mapping.replicas) == (2, 1, 1)
    assert plan.used["num_chips"].startswith("2 (smallest deployment that holds the model and 8 sequences")
    plan = plan_of(lib, weight_dtype="", kv_dtype="")
    assert plan.precision.weight_dtype == "bf16" and plan.precision.kv_dtype == "bf16"
    assert plan.used["weight_dtype"] == "bf16 (native dtype of llama-3.1-70b)"


def test_native_weight_dtypes(lib):
    from infersim.specs.model_arch import native_weight_dtype

    native = {m: native_weight_dtype(lib.model(m)) for m in ("llama-2-70b", "llama-3.1-8b", "deepseek-r1", "gpt-oss-120b")}
    assert native == {"llama-2-70b": "fp16", "llama-3.1-8b": "bf16", "deepseek-r1": "fp8", "gpt-oss-120b": "fp4"}


def test_attention_dp_rows_use_their_mapping_and_bad_ones_say_why(lib, tmp_path):
    from infersim.accuracy.plan import Skip, plan_row

    path = write(tmp_path, [line(id="A-1", num_chips="16", tp="8", ep="16", model="mixtral-8x7b") + ",2"],
                 header=BASE + ",attn_dp")
    # tp8 x attn_dp 2 = 16 chips, one replica; mixtral has 8 experts, so ep 16 is refused
    with pytest.raises(Skip, match="at most the 8 experts"):
        plan_row(lib, read_rows(path).table.iloc[0].to_dict())
    ok = write(tmp_path, [line(id="A-3", num_chips="16", tp="8", ep="8", model="mixtral-8x7b") + ",2"],
               header=BASE + ",attn_dp")
    plan = plan_row(lib, read_rows(ok).table.iloc[0].to_dict())
    assert (plan.mapping.tp, plan.mapping.attn_dp, plan.mapping.ep, plan.mapping.replicas) == (8, 2, 8, 1)
    assert plan.mapping.label == "tp8 dp2 ep8"


@pytest.mark.jit_only
def test_concurrency_and_disagg_rows_are_predicted(lib, tmp_path):
    """A closed-loop row is the serving model's closed loop at its concurrency on its mapping; a
    disagg row the two pools of its sizes and mappings."""
    from infersim.model.configuration import Mapping
    from infersim.model.pools import DisaggDeployment
    from infersim.model.serving import ServingModel, closed_loop
    from infersim.specs.traffic import LengthDistribution

    header = BASE + ",concurrency,prefill_chips,decode_chips,prefill_tp,decode_tp"
    c1 = line(id="C-1", num_chips="8", tp="8", metric="tpot_ms", mode="concurrency", value="10") + ",64,,,,"
    d1 = line(id="D-1", num_chips="16", tp="", input_len="4096", output_len="512", metric="ttft_ms",
              mode="disagg", value="300") + ",128,8,8,2,8"
    report = run_validation(lib, read_rows(write(tmp_path, [c1, d1], header=header)))
    got = report.rows.set_index("id")["predicted"]
    chip, arch = lib.chip("nvidia-h100-sxm"), lib.architecture("llama-3.1-70b")
    from infersim.model.configuration import resolve_precision

    p = resolve_precision(chip, "fp8", "fp8")
    fixed = LengthDistribution
    m = ServingModel(chip, arch, p, Mapping(tp=8), fixed(mean_tokens=1000), fixed(mean_tokens=1000))
    assert got["C-1"] == pytest.approx(closed_loop(m, 64).tpot_mean_s * 1e3, rel=1e-9)
    pre = ServingModel(chip, arch, p, Mapping(tp=2, replicas=4), fixed(mean_tokens=4096), fixed(mean_tokens=1))
    dec = ServingModel(chip, arch, p, Mapping(tp=8), fixed(mean_tokens=4096), fixed(mean_tokens=512))
    assert got["D-1"] == pytest.approx(DisaggDeployment(pre, dec, arch, p).closed_loop(128).ttft_mean_s * 1e3,
                                       rel=1e-9)


def test_a_dataframe_is_checked_like_a_file(lib):
    """api.validate takes a DataFrame: the same checks, row i reported as line i + 2."""
    import pandas as pd

    import infersim

    df = pd.read_csv(ACC / "calibration.csv").iloc[53:56].reset_index(drop=True)
    df["num_chips"] = df["num_chips"].astype(float)
    df.loc[1, "num_chips"] = 1.5
    out = infersim.validate(df, library=lib)
    assert list(out["id"]) == ["CAL-054", "CAL-056"]
    assert out.attrs["invalid"] == [(3, "CAL-055", "num_chips '1.5' must be a whole number >= 1 (or empty for unknown)")]
