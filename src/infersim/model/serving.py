"""Continuous batching under Poisson load: steady-state TTFT and TPOT (mean, p50, p99) and goodput.

Each iteration decodes every running sequence by one token and prefills up to a token budget of
waiting prompts (chunked prefill). At an arrival rate lambda per replica, Little's law gives
B = lambda x O x T running sequences and lambda x I x T prompt tokens per iteration of length T;
T solves T = overhead + mixed_step(B, prefill tokens). With pipeline parallelism (pp stages) the
running sequences form pp micro-batches in flight, each of B/pp sequences, and T is the time one
micro-batch takes through all stages. The prompt tokens an iteration can take (budget - B/pp per
micro-batch) are a server of utilisation rho = lambda I T / (pp budget - B); its waiting time is
M/G/1 (Pollaczek-Khinchine), with an exponential tail for the percentiles. A new request also
waits for the micro-batch slot in flight to come round (uniform over T/pp when the engine is
busy, probability 1 - exp(-B)). Past capacity (no fixed point, rho >= 1, or B beyond memory) the
queue grows without bound: results are infinite. The KV cache is paged: a running sequence holds
its prompt and the tokens generated so far. A front end that gathers arrivals for a window
(dispatch_window_s) hands each gathering to one replica, whose prompts are prefilled together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from ..errors import InfersimError
from ..kernels.mixed_step import mixed_step_time_nb, new_scratch
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture
from ..specs.traffic import LengthDistribution
from .configuration import Mapping, Precision, SpecDecode, deployment_row
from .evaluate import evaluate
from .packing import pack_architecture, pack_chip

DEFAULT_TOKEN_BUDGET = 8192   # tokens per iteration (TensorRT-LLM max_num_tokens / vLLM max_num_batched_tokens)
PROMPT_ARRIVALS = ("whole", "spread")
# above this many prompts per iteration the Poisson count of arriving prompts is within about a third
# of its mean and the mean iteration is that of the mean prompt tokens (mean_iteration_s)
SPREAD_ABOVE_PROMPTS = 8.0
Z99 = NormalDist().inv_cdf(0.99)  # standard normal 99th percentile (2.3263)


def lognormal_quantile(d: LengthDistribution, q: float) -> float:
    """Quantile q (0 < q < 1) of a length distribution (lognormal with the given mean and cv, or
    fixed), capped at its max_tokens."""
    if not 0 < q < 1:
        raise InfersimError(f"a quantile must be between 0 and 1 (exclusive), got {q}")
    if d.kind == "fixed" or d.cv == 0:
        return d.mean_tokens
    sigma2 = math.log(1 + d.cv ** 2)
    mu = math.log(d.mean_tokens) - sigma2 / 2
    z = NormalDist().inv_cdf(q)
    value = math.exp(mu + z * math.sqrt(sigma2))
    return min(value, d.max_tokens) if d.max_tokens else value


STEADY_STATE_LIMIT_S = 1e3   # an iteration longer than this has no steady state (the queue grows)


def steady_iteration_s(g, start_s: float) -> float | None:
    """Smallest iteration time T >= start_s with g(T) <= T, for an iteration time g(T) that grows with
    T (the work that arrives during T): start_s when g(start_s) <= start_s; else scan up by 1.5x for a
    sign change of g(T) - T and solve it with Brent's method, returning the side where g(T) <= T.
    None if g(T) > T up to STEADY_STATE_LIMIT_S."""
    from scipy.optimize import brentq

    if g(start_s) <= start_s:
        return start_s
    lo = hi = start_s
    while g(hi) > hi:
        lo, hi = hi, hi * 1.5
        if hi > STEADY_STATE_LIMIT_S:
            return None
    t = brentq(lambda x: g(x) - x, lo, hi, xtol=1e-15, rtol=1e-12)
    return t if g(t) <= t else t * (1 + 1e-12)


@dataclass(frozen=True)
class ServingResult:
    rate_per_s: float                 # requests/s offered to the whole deployment
    stable: bool
    reason: str                       # why it is unstable ('' when stable)
    running_batch: float              # mean decoding sequences per replica
    prefill_utilisation: float
    ttft_mean_s: float
    ttft_p50_s: float
    ttft_p99_s: float
    tpot_mean_s: float
    tpot_p50_s: float
    tpot_p99_s: float
    output_tokens_per_s: float        # whole deployment

    def meets(self, max_ttft_s: float | None, max_tpot_s: float | None) -> bool:
        return self.stable and (max_ttft_s is None or self.ttft_p99_s <= max_ttft_s) and \
            (max_tpot_s is None or self.tpot_p99_s <= max_tpot_s)


class ServingModel:
    """One chip x model x precision x mapping, with prompt and output length distributions."""

    def __init__(self, chip: ChipSpec, arch: Architecture, precision: Precision, mapping: Mapping,
                 inputs: LengthDistribution, outputs: LengthDistribution, token_budget: int = DEFAULT_TOKEN_BUDGET,
                 max_running: int | None = None, prefix_tokens: float = 0.0, prefix_load_s: float = 0.0,
                 dispatch_window_s: float = 0.0, prompt_arrivals: str = "whole", routing_skew: float = 0.0,
                 speculation: SpecDecode | None = None):
        """prefix_tokens: a context every request already has (e.g. an agent's history) whose KV
        cache is loaded, not computed, taking prefix_load_s; it holds KV memory and is attended to.
        dispatch_window_s: a front end that gathers arrivals for this long and hands each gathering
        to one replica in turn (0: every request goes straight to a replica).
        prompt_arrivals: how a kept-full engine (saturated, closed loop) meets its replacement
        prompts: 'whole' (as engines do: a whole prompt, chunked by the token budget, in the
        iteration after its predecessor finishes; see mean_iteration_s) or 'spread' (the mean
        number of prompt tokens in every iteration; the model before it knew better).
        token_budget is per attention group (engines with attention DP schedule each group).
        routing_skew: Zipf exponent of the experts' popularity (mixture-of-experts models).
        speculation: speculative decoding (configuration.SpecDecode); see iteration_s."""
        if prompt_arrivals not in PROMPT_ARRIVALS:
            raise InfersimError(f"prompt arrivals '{prompt_arrivals}' is not one of {', '.join(PROMPT_ARRIVALS)}")
        self.prompt_arrivals = prompt_arrivals
        if token_budget < 2:
            raise InfersimError(f"token budget per iteration must be >= 2, got {token_budget}")
        if dispatch_window_s < 0:
            raise InfersimError(f"dispatch window must be >= 0 s, got {dispatch_window_s}")
        self.dispatch_window_s = float(dispatch_window_s)
        self.chip, self.mapping, self.inputs, self.outputs = chip, mapping, inputs, outputs
        self.prefix, self.prefix_load_s = float(prefix_tokens), float(prefix_load_s)
        self.group_budget = float(token_budget)               # prompt and decode tokens per group per micro-batch
        self.attn_dp = int(mapping.attn_dp)
        self.budget = self.group_budget * self.attn_dp        # the replica's, per micro-batch (its capacity)
        self.pp = float(mapping.pp)
        self._a = pack_architecture(arch)
        self._c = pack_chip(chip, precision.compute_dtype)
        self.spec = speculation
        self._dep = deployment_row(precision, mapping, routing_skew=routing_skew, speculation=speculation)
        self._dep_plain = deployment_row(precision, mapping, routing_skew=routing_skew)   # one token per step
        self._scratch = new_scratch()
        from .configuration import Workload
        # Paged KV cache: a running sequence holds its prompt and the tokens generated so far. Ages
        # are spread over the output: a length-biased draw of O, half done, E[O^2] / (2 E[O]).
        out_cv2 = outputs.cv ** 2 if outputs.kind == "lognormal" else 0.0
        held = outputs.mean_tokens * (1.0 + out_cv2) / 2.0
        top = evaluate(chip, arch, precision, mapping,
                       Workload(max(1, round(self.prefix + inputs.mean_tokens)), max(1, round(held)),
                                speculation=speculation), batch=0)
        self.max_batch = top.max_batch if top.fits else 0
        if max_running:  # the runtime's cap on sequences in flight (e.g. MLPerf gpu_batch_size)
            self.max_batch = min(self.max_batch, max_running)
        self.overhead = chip.efficiency.step_overhead_s
        self.prefill_overhead = chip.efficiency.prefill_overhead_s

    def iteration_s(self, running: float, prefill_tokens: float, group_tokens: float | None = None,
                    past: float | None = None) -> float:
        """Seconds for one micro-batch through all stages: `running` decoding sequences and
        `prefill_tokens` prompt tokens of the whole replica, split over its pp micro-batches, of
        which the busiest attention group holds `group_tokens` (None: spread_group_tokens), each
        after `past` tokens of its prompt (None: group_layout's).

        With speculative decoding a step yields tau = (1 - a^(k+1)) / (1 - a) tokens per sequence:
        it drafts k tokens (k x the draft's share of a one-token decode step, plus its own step
        overheads), then verifies them with the prompt tokens that came in meanwhile. The iteration
        this model counts is one token per sequence: the step / tau, carrying prefill_tokens of
        prompt (tau x that per step), so Little's law and the TPOT formulas hold unchanged."""
        if group_tokens is None:
            group_tokens = self.spread_group_tokens(prefill_tokens)
        if self.spec is None:
            return self._micro_batch_s(running / self.pp, prefill_tokens / self.pp,
                                       self.group_layout(group_tokens / self.pp, past))
        tau = self.spec.tokens_per_step
        step = self._micro_batch_s(running / self.pp, tau * prefill_tokens / self.pp,
                                   self.group_layout(tau * group_tokens / self.pp, past))
        one_token = mixed_step_time_nb(self._a, self._c, self._dep_plain, running / self.pp, self._decode_past(), 1.0,
                                       0.0, self.prefix, 0.0, self._scratch)
        draft = self.spec.draft_tokens * self.spec.draft_cost * one_token + self.spec.launches * self.overhead
        return (step + draft) / tau

    def _decode_past(self) -> float:
        return self.prefix + self.inputs.mean_tokens + self.outputs.mean_tokens / 2.0

    def spread_group_tokens(self, prefill_tokens: float) -> float:
        """Prompt tokens of the busiest attention group when `prefill_tokens` (the replica's, in one
        iteration) are whole prompts of the mean length spread over the groups: an even share, but at
        least one prompt (or a token budget's chunk of it) where there is that much, since a prompt
        lives in one group."""
        if prefill_tokens <= 0.0:
            return 0.0
        whole = min(prefill_tokens, max(self.inputs.mean_tokens, 1.0), self.pp * self.group_budget)
        return max(prefill_tokens / self.attn_dp, whole)

    def group_layout(self, group_tokens: float, past: float | None = None) -> tuple[float, float, float]:
        """(chunks, tokens per chunk, tokens of its prompt before each chunk) of the busiest attention
        group's `group_tokens` prompt tokens in one micro-batch. Prompts that fit the group's token
        budget come whole (group_tokens / I of them); a longer prompt comes in chunks of the budget,
        on average after (I - budget) / 2 of its tokens (the mean of its chunks' positions), unless
        `past` says where."""
        if group_tokens <= 0.0:
            return 1.0, 0.0, 0.0
        size = max(self.inputs.mean_tokens, 1.0)
        if size <= self.group_budget:
            chunks = max(group_tokens / size, 1.0)
            return chunks, group_tokens / chunks, 0.0 if past is None else past
        chunks = max(group_tokens / self.group_budget, 1.0)
        return chunks, group_tokens / chunks, 0.5 * (size - self.group_budget) if past is None else past

    def _micro_batch_s(self, decoding: float, prefill_tokens: float,
                       layout: tuple[float, float, float] = (1.0, 0.0, 0.0)) -> float:
        """One micro-batch: `decoding` sequences and `prefill_tokens` prompt tokens over all attention
        groups, the busiest group's as `layout` (group_layout) says."""
        chunks, chunk_tokens, past = layout
        if prefill_tokens > 0.0 and chunk_tokens <= 0.0:
            chunks, chunk_tokens, past = self.group_layout(self.spread_group_tokens(prefill_tokens))
        return self.overhead + mixed_step_time_nb(self._a, self._c, self._dep, decoding, self._decode_past(), chunks,
                                                  chunk_tokens, self.prefix + past, prefill_tokens, self._scratch)

    def mean_iteration_s(self, running: float, prompt_tokens: float) -> float:
        """Mean seconds of the iterations of an engine whose `running` sequences decode while, on
        average, `prompt_tokens` prompt tokens per iteration come in to replace finished ones. Engines
        take a new request's prompt whole (chunked by the token budget) in the next iteration, not
        spread thinly over every one; a prompt lives in one attention group, so each group has its
        own arrivals (group_loads): the prompt tokens a group takes in an iteration are 0 (most
        iterations of a long-output workload: they read only the experts the decode tokens touch)
        or one of a few loads. The groups are independent; the busiest group's load M sets the
        iteration, the others (each at most M) add their tokens to the routed experts':
        mean = sum over M of P(M) x iteration(M + (attn_dp - 1) E[load | load <= M], M). Where the
        prompts need more than every iteration (u = the iterations a group spends prefilling per
        iteration > 1), every group is always busy and the time is t0 + u x (that - t0), t0 the
        decode-only iteration; one group reduces to t0 + sum of (iteration(load) - t0) over the
        loads' expected counts. With prompt_arrivals 'spread', or lambda = prompt_tokens / I above
        SPREAD_ABOVE_PROMPTS (where the two agree within a few per cent), every iteration carries
        the mean."""
        size = self.inputs.mean_tokens
        if self.prompt_arrivals == "spread" or prompt_tokens <= 0.0 or size <= 0.0:
            return self.iteration_s(running, prompt_tokens)
        lam = prompt_tokens / size
        if lam >= SPREAD_ABOVE_PROMPTS:
            return self.iteration_s(running, prompt_tokens)
        t0 = self.iteration_s(running, 0.0)
        loads = self.group_loads(lam / self.attn_dp)
        busy = sum(loads.values())
        if busy <= 0.0:
            return t0
        w = min(busy, 1.0)                       # P(a group prefills in an iteration)
        dp = self.attn_dp
        cdf = 1.0 - w
        below = 0.0                              # sum of load x P(load) up to the current level
        previous = cdf ** dp
        mean = previous * t0                     # every group only decodes
        for load in sorted(loads):
            p = w * loads[load] / busy
            cdf += p
            below += p * load
            now = cdf ** dp
            mean += (now - previous) * self.iteration_s(running, load + (dp - 1) * below / cdf, load)
            previous = now
        return t0 + busy / w * (mean - t0)

    def group_loads(self, lam: float) -> dict[float, float]:
        """{prompt tokens an attention group takes in one iteration: expected such iterations per
        iteration} when a Poisson count of mean `lam` prompts of the mean length reaches the group
        each iteration: k of them take floor(k I / cap) iterations of cap = pp x the group's token
        budget, and one of the rest, each chunk after the ones before it."""
        size, cap = self.inputs.mean_tokens, self.pp * self.group_budget
        loads: dict[float, float] = {}
        p_k = math.exp(-lam)
        for k in range(1, int(lam + 10.0 * math.sqrt(lam) + 10.0) + 1):   # the tail beyond: < 1e-15
            p_k *= lam / k
            tokens = k * size
            n_full = math.floor(tokens / cap + 1e-12)
            rest = tokens - n_full * cap
            if n_full:
                loads[cap] = loads.get(cap, 0.0) + p_k * n_full
            if rest > 1e-9 * cap:
                loads[rest] = loads.get(rest, 0.0) + p_k
        return loads

    def load_elasticity(self, running: float, prompt_tokens: float, t: float, h: float = 1e-3) -> float:
        """d ln T / d ln B around an iteration of `running` sequences and `prompt_tokens` prompt
        tokens lasting t, the prompt tokens following T (in [0, 1))."""
        e_b = (self.iteration_s(running * (1 + h), prompt_tokens) / t - 1.0) / h
        e_p = (self.iteration_s(running, prompt_tokens * (1 + h)) / t - 1.0) / h \
            if 0 < prompt_tokens * (1 + h) <= self.pp * self.budget else 0.0
        return min(max(e_b / max(1.0 - e_p, 1e-9), 0.0), 1.0 - 1e-9)

    def _fixed_point(self, lam: float, i_mean: float, o_mean: float) -> float | None:
        """Smallest iteration time T with T >= g(T) = overhead + mixed(lam O T running, lam I T tokens);
        None if there is no steady state (see steady_iteration_s)."""
        def g(t: float) -> float:
            return self.iteration_s(lam * o_mean * t, min(lam * i_mean * t, self.pp * self.budget))

        return steady_iteration_s(g, self.iteration_s(1.0, 0.0))

    def _prefill_service_s(self, prompt: float, running: float, others: float = 0.0, prompts: float = 1.0) -> float:
        """Seconds until the last of `prompts` prompts of `prompt` tokens in all (handed to the
        replica together) is prefilled. A prompt lives in one attention group: the busiest group
        takes its share of them (at least one), in chunks of its token budget less its decoding
        sequences, one chunk per iteration (in one micro-batch), each chunk after the ones before it.
        Each of those iterations also carries `others` prompt tokens of other requests (under Poisson
        arrivals, as many as in any iteration), spread over the groups, as far as the budget allows."""
        dp = self.attn_dp
        decoding = running / self.pp
        group_decoding = max(decoding / dp, min(decoding, 1.0))        # on the busiest group
        chunk = max(self.group_budget - group_decoding, 1.0)
        prompts = max(prompts, 1.0)
        length = prompt / prompts
        mine = length * max(prompts / dp, min(prompts, 1.0))          # the busiest group's own tokens
        n = max(math.ceil(mine / chunk - 1e-12), 1)
        rest_per_group = (prompt - mine) / max(dp - 1, 1) / n          # the gathering's other prompts
        other_share = others / self.pp / dp
        total = 0.0
        full = n - 1                                                   # chunks before the last
        for own, count, past in ((chunk, full, self._mean_chunk_past(full, chunk, length)),
                                 (mine - full * chunk, 1, (full * chunk) % length if length > chunk else 0.0)):
            if count <= 0:
                continue
            shared = min(other_share, max(chunk - own, 0.0))
            group = own + shared
            replica = group + (dp - 1) * min(other_share + rest_per_group, chunk)
            # a whole prompt: the group's tokens as prompts of the mean length; a piece of a longer
            # one: the other prompts' tokens taken as pieces of its size and place
            layout = self.group_layout(group, 0.0) if length <= chunk else (group / own, own, past)
            total += count * self._micro_batch_s(decoding, replica, layout)
        return total + self.prefill_overhead + self.prefix_load_s

    @staticmethod
    def _mean_chunk_past(chunks: int, chunk: float, length: float) -> float:
        """Mean tokens of its prompt before each of a group's first `chunks` chunks of `chunk`
        tokens, taken from prompts of `length` tokens one after another (0 when whole prompts fit)."""
        if chunks <= 0 or length <= chunk:
            return 0.0
        return sum((j * chunk) % length for j in range(chunks)) / chunks

    def at_rate(self, rate_per_s: float) -> ServingResult:
        if rate_per_s <= 0:
            raise InfersimError(f"request rate must be > 0, got {rate_per_s}")
        lam = rate_per_s / self.mapping.replicas
        i_mean, o_mean = self.inputs.mean_tokens, self.outputs.mean_tokens
        t = self._fixed_point(lam, i_mean, o_mean)
        if t is None:
            return self._unstable(rate_per_s, "the iteration time grows faster than the load it serves: past capacity")
        running = lam * o_mean * t
        if running > self.max_batch:
            return self._unstable(rate_per_s, f"{running:.0f} running sequences exceed the {self.max_batch} that fit in memory")
        rho = lam * i_mean * t / max(self.pp * self.budget - running, 1e-9)
        if rho >= 1.0:
            return self._unstable(rate_per_s, f"prefill needs {rho:.2f} of the iteration token budget: past capacity")
        others = lam * i_mean * t          # prompt tokens of other requests in any iteration
        s_mean = self._prefill_service_s(i_mean, running, others)
        cv2 = self.inputs.cv ** 2 if self.inputs.kind == "lognormal" else 0.0
        wait_mean = rho / (1 - rho) * s_mean * (1 + cv2) / 2       # M/G/1, service time proportional to the prompt
        tail = wait_mean / rho if rho > 0 else 0.0                  # P(W > x) ~ rho exp(-x / tail)

        def wait_q(q: float) -> float:
            return tail * math.log(rho / (1 - q)) if rho > 1 - q else 0.0

        # the slot of the micro-batch in flight comes round every T/pp; a busy engine makes an
        # arrival wait a uniform share of it (quantiles approximated by adding those of the parts)
        slot, busy = t / self.pp, 1.0 - math.exp(-running)
        slot_wait_mean = busy * 0.5 * slot
        # TPOT per request is the mean of its ~O iteration times (as MLPerf measures it). Iterations vary
        # with the prompt tokens they carry: a compound-Poisson count (lambda T arrivals of I tokens),
        # each token adding d(iteration)/d(token); the p99 of an O-iteration mean adds Z99 sd / sqrt(O).
        per_token = (self.iteration_s(running, others + 64.0) - self.iteration_s(running, others)) / 64.0 \
            if others + 64.0 <= self.pp * self.budget else 0.0
        tokens_sd = math.sqrt(lam * t * i_mean ** 2 * (1 + cv2))
        jitter_sd = per_token * tokens_sd / math.sqrt(max(o_mean, 1.0))
        # Slow swings of load: the running count B is Poisson-like and relaxes over about a request
        # lifetime, while the prompt tokens of an iteration (lambda I T) follow T at once. The
        # iteration time follows B with elasticity eps = e_B / (1 - e_P), e_B and e_P its direct
        # elasticities to B and to the prompt tokens (0 when the weights dominate, -> 1 at capacity);
        # eps also slows the relaxation (rate (1 - eps) / (O T)). Linearised (Ornstein-Uhlenbeck,
        # arrivals and departures both Poisson): var B = B / (1 - eps), so sd(T) / T =
        # eps / sqrt(B (1 - eps)); a request's lifetime is shorter than that correlation time, so its
        # TPOT carries nearly all of it. A prefill-only instance (O = 1) has e_B ~ 0: no swing.
        eps = self.load_elasticity(running, others, t)
        swing = eps / math.sqrt(max(running, 1e-12) * (1.0 - eps))
        tpot_p99 = t + Z99 * math.sqrt(jitter_sd ** 2 + (t * swing) ** 2)
        if self.dispatch_window_s > 0:
            # A gathering front end: a request waits a uniform share of the window, then its prompt
            # is prefilled with all the others of its gathering (rate x window prompts, a compound-
            # Poisson token count), which finish together. The parts are independent and their sum
            # near normal: p99 = mean + Z99 sd, sd from the window (W^2 / 12), the slot (slot^2 / 12),
            # the gathering's tokens and the load swing.
            window = self.dispatch_window_s
            gathered = rate_per_s * window * i_mean
            gathered_sd = math.sqrt(rate_per_s * window * i_mean ** 2 * (1 + cv2))
            service = self._prefill_service_s(gathered, running, prompts=gathered / i_mean)
            service_sd = (self._prefill_service_s(gathered + Z99 * gathered_sd, running,
                                                  prompts=(gathered + Z99 * gathered_sd) / i_mean) - service) / Z99
            s_mean = service + 0.5 * window
            ttft_p50 = wait_q(0.5) + slot_wait_mean + s_mean
            sd = math.sqrt(service_sd ** 2 + window ** 2 / 12 + (busy * slot) ** 2 / 12 +
                           ((slot_wait_mean + s_mean) * swing) ** 2)
            ttft_p99 = wait_q(0.99) + slot_wait_mean + s_mean + Z99 * sd
        else:
            ttft_p50 = wait_q(0.5) + slot_wait_mean + \
                self._prefill_service_s(lognormal_quantile(self.inputs, 0.5), running, others)
            ttft_p99 = (wait_q(0.99) + busy * 0.99 * slot +
                        self._prefill_service_s(lognormal_quantile(self.inputs, 0.99), running, others)) * \
                (1.0 + Z99 * swing)
        return ServingResult(rate_per_s, True, "", running, rho, wait_mean + slot_wait_mean + s_mean, ttft_p50,
                             ttft_p99, t, t, tpot_p99, rate_per_s * o_mean)

    def _unstable(self, rate: float, reason: str) -> ServingResult:
        inf = math.inf
        return ServingResult(rate, False, reason, inf, inf, inf, inf, inf, inf, inf, inf, inf)

    def saturated(self) -> tuple[float, float]:
        """The engine kept full, as in an offline run: (running sequences, mean iteration s).
        running x I / O prompt tokens per iteration replace the finished sequences, as whole prompts
        (mean_iteration_s); running is the cap (memory or the runtime's) or where those prompts fill
        the token budget, whichever is lower."""
        i_mean, o_mean = self.inputs.mean_tokens, self.outputs.mean_tokens
        running = min(float(self.max_batch), self.pp * self.budget * o_mean / (i_mean + o_mean))
        return running, self.mean_iteration_s(running, running * i_mean / o_mean)

    def capacity_per_s(self, hi: float = 1e6) -> float:
        """The largest stable request rate (bisection on the deployment's rate)."""
        return self.goodput_per_s(None, None, hi)

    def goodput_per_s(self, max_ttft_s: float | None, max_tpot_s: float | None, hi: float = 1e6) -> float:
        """The largest request rate whose p99 TTFT and TPOT meet the targets; 0 if none does."""
        return largest_rate(lambda rate: self.at_rate(rate), max_ttft_s, max_tpot_s, 1e-3, hi)


def largest_rate(at_rate, max_ttft_s: float | None, max_tpot_s: float | None, lo: float, hi: float,
                 extra_ttft_s: float = 0.0) -> float:
    """The largest rate in [lo, hi] at which at_rate(rate) (a ServingResult) is stable and its p99s
    (TTFT + extra_ttft_s) meet the targets; 0 if `lo` does not. Brent's method on the log of the
    rate, on the worst log-ratio of a p99 to its target (a large constant where unstable), whose
    sign changes at that rate; the result is the side that meets the targets."""
    from scipy.optimize import brentq

    unstable = 50.0

    def margin(log_rate: float) -> float:
        r = at_rate(math.exp(log_rate))
        if not r.stable:
            return unstable
        worst = -1.0  # stable, no target: meets
        for value, target in ((r.ttft_p99_s + extra_ttft_s, max_ttft_s), (r.tpot_p99_s, max_tpot_s)):
            if target is not None:
                worst = max(worst, math.log(value / target)) if value > 0 else worst
        return worst if max_ttft_s is not None or max_tpot_s is not None else -1.0

    a, b = math.log(lo), math.log(hi)
    if margin(a) > 0:
        return 0.0
    if margin(b) <= 0:
        return hi
    x = brentq(margin, a, b, xtol=1e-5, rtol=1e-12)
    step = 1e-5
    while margin(x) > 0 and x > a:  # the root's meeting side
        x -= step
        step *= 2
    return math.exp(max(x, a))


@dataclass(frozen=True)
class Goodput:
    rate_per_s: float            # requests/s of the deployment that meet the p99 targets
    mapping: Mapping
    at_goodput: ServingResult
    capacity_per_s: float        # the largest stable rate of that mapping, targets aside
    model: "ServingModel"        # to evaluate other rates on the same deployment

    @property
    def output_tokens_per_s_per_chip(self) -> float:
        return self.at_goodput.output_tokens_per_s / self.mapping.chips if self.rate_per_s > 0 else 0.0


def best_goodput(chip: ChipSpec, arch: Architecture, precision: Precision, mappings: list[Mapping],
                 inputs: LengthDistribution, outputs: LengthDistribution, max_ttft_s: float | None,
                 max_tpot_s: float | None, for_rate_per_s: float | None = None, **model_options) -> Goodput:
    """Across mappings: the one with the most goodput per chip, or, given `for_rate_per_s`, the one
    that serves that rate on the fewest chips (whole instances; ties to more goodput per chip).
    model_options go to ServingModel."""

    def key(g: Goodput) -> tuple[float, float]:
        per_chip = g.rate_per_s / g.mapping.chips
        if for_rate_per_s is None:
            return (0.0, -per_chip)
        return (math.ceil(for_rate_per_s / g.rate_per_s) * g.mapping.chips, -per_chip)

    best = None
    for m in mappings:
        model = ServingModel(chip, arch, precision, m, inputs, outputs, **model_options)
        if model.max_batch < 1:
            continue
        rate = model.goodput_per_s(max_ttft_s, max_tpot_s)
        if rate <= 0:
            continue
        g = Goodput(rate, m, model.at_rate(rate), model.capacity_per_s(), model)
        if best is None or key(g) < key(best):
            best = g
    if best is None:
        raise InfersimError(f"no mapping of {arch.id} on {chip.id} meets the p99 targets at any rate: relax them or add chips")
    return best


# ---- closed loop ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClosedLoopResult:
    """The steady state of a closed loop: `concurrency` requests always in flight (a finished one
    is replaced at once by a new one), spread evenly over the replicas."""

    concurrency: int
    request_rate_per_s: float         # completed requests/s, whole deployment
    output_tokens_per_s: float        # whole deployment
    ttft_mean_s: float                # queue wait + wait for the next iteration + prefill
    tpot_mean_s: float                # mean time between a request's output tokens
    queue_wait_mean_s: float          # part of TTFT spent waiting for a place in an engine
    in_engine_per_replica: float      # requests an engine holds (prefilling or decoding), largest replica
    queued: float                     # requests waiting outside the engines, whole deployment
    running_batch: float              # mean decoding sequences per replica, weighted by requests
    limit: str                        # what stops an engine from taking every request ('' if nothing)


def _engine_closed_loop(model: ServingModel, inside: int, arrivals_wait: bool):
    """One replica holding `inside` requests (prefilling or decoding), each replaced on finishing.

    Mean field: at throughput X (requests/s) an iteration lasts T = overhead + mixed(B, X I T) with
    B = X (O - 1) T decoding sequences (Little) and X I T prompt tokens; a request's life is
    R(X) = TTFT + (O - 1) TPOT, and the loop closes where X R(X) = inside (X R grows with X, so
    bisection). TTFT = wait for the next iteration (T/pp: a replacement arrives just after the
    iteration that finished its predecessor has been followed by the next, when `arrivals_wait`;
    0 for a lone request or one admitted from a queue) + the M/G/1 wait of the iteration token
    budget (loaded by the other requests' prompts) + the prefill of its prompt alongside the others'
    prompt tokens and B decodes. A request
    sees its own decode step and the others' prompts, not its own: TPOT = the mean iteration
    (ServingModel.mean_iteration_s: the others' prompts come whole) of 1 + B (c-1)/c decoding and
    X I T (c-1)/c prompt tokens. T is a mean iteration too. Returns (X, TTFT, TPOT, B) or None if no steady state."""
    from scipy.optimize import brentq

    i_mean, o_mean = model.inputs.mean_tokens, model.outputs.mean_tokens
    decode_tokens = max(o_mean - 1.0, 0.0)
    others = (inside - 1.0) / inside
    cv2 = model.inputs.cv ** 2 if model.inputs.kind == "lognormal" else 0.0
    cap_tokens = model.pp * model.budget

    def state(x: float):
        def g(t: float) -> float:
            return model.mean_iteration_s(x * decode_tokens * t, min(x * i_mean * t, cap_tokens))

        t = steady_iteration_s(g, model.iteration_s(1.0, 0.0))
        if t is None:
            return None
        running = x * decode_tokens * t
        prompt_tokens = x * i_mean * t
        rho = prompt_tokens / max(cap_tokens - running, 1e-9)
        if rho >= 1.0:
            return None
        service = model._prefill_service_s(i_mean, running * others, prompt_tokens * others)
        busy = rho * others                       # the budget is taken by the other requests' prompts
        wait = busy / (1.0 - busy) * service * (1.0 + cv2) / 2.0
        ttft = (t / model.pp if arrivals_wait else 0.0) + wait + service
        tpot = model.mean_iteration_s(1.0 + running * others, prompt_tokens * others) if decode_tokens > 0 else 0.0
        return ttft, tpot, running

    def excess(x: float) -> float:
        s = state(x)
        return math.inf if s is None else x * (s[0] + decode_tokens * s[1]) - inside

    lone = state(1e-9)
    if lone is None:
        return None
    lo, hi = 0.0, inside / (lone[0] + decode_tokens * lone[1])   # X R(X) >= X R(0): an upper bound
    # excess grows with X and is infinite past the last steady state: bisect while the upper end has
    # none, then Brent's method on the finite bracket (to 1e-12; bisection alone took 60 steps)
    f_hi = excess(hi)
    for _ in range(60):
        if math.isfinite(f_hi):
            break
        mid = 0.5 * (lo + hi)
        f_mid = excess(mid)
        if f_mid < 0:
            lo = mid
        else:
            hi, f_hi = mid, f_mid
    if f_hi <= 0.0:   # the bound itself (a lone request: R does not grow with X)
        x = hi
    elif math.isfinite(f_hi) and lo < hi:
        x = brentq(excess, lo, hi, xtol=1e-300, rtol=1e-12)
    else:
        x = lo if lo > 0 else hi
    s = state(x)
    if s is None:
        return None
    ttft, tpot, running = s
    return x, ttft, tpot, running


def closed_loop(model: ServingModel, concurrency: int) -> ClosedLoopResult:
    """Closed loop of `concurrency` requests over the model's replicas (as evenly as they split).

    An engine holds at most model.max_batch requests (its batch cap or KV memory); beyond that the
    rest wait in a queue and are admitted as requests finish, so their wait is (c - cap) / X
    (Little's law) on top of the TTFT of an engine kept full. Raises InfersimError when the model
    does not fit or an engine has no steady state."""
    if concurrency < 1 or int(concurrency) != concurrency:
        raise InfersimError(f"concurrency must be a whole number >= 1, got {concurrency}")
    if model.max_batch < 1:
        raise InfersimError(f"{model.mapping.label} on {model.chip.id} holds no sequence: the model does not fit")
    replicas = model.mapping.replicas
    base, extra = divmod(int(concurrency), replicas)
    groups = [(base + 1, extra), (base, replicas - extra)]
    o_mean = model.outputs.mean_tokens
    x_sum = ttft_w = tpot_w = wait_w = running_w = queued = 0.0
    inside_max, limit = 0, ""
    for c, n in groups:
        if c == 0 or n == 0:
            continue
        inside = min(c, model.max_batch)
        if c > inside:
            limit = "batch cap or KV memory"
        solved = _engine_closed_loop(model, inside, arrivals_wait=c == inside and inside > 1)
        if solved is None:
            raise InfersimError(f"{inside} requests in flight on {model.mapping.label} of {model.chip.id}: "
                                "no steady state (prefill needs more than the iteration token budget)")
        x, ttft, tpot, running = solved
        wait = (c - inside) / x
        x_sum += n * x
        ttft_w += n * x * (ttft + wait)
        tpot_w += n * x * tpot
        wait_w += n * x * wait
        running_w += n * x * running
        queued += n * (c - inside)
        inside_max = max(inside_max, inside)
    return ClosedLoopResult(int(concurrency), x_sum, x_sum * o_mean, ttft_w / x_sum, tpot_w / x_sum,
                            wait_w / x_sum, float(inside_max), queued, running_w / x_sum, limit)
