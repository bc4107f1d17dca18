"""Positions of fields in the packed float64 arrays (struct of arrays, one row per item).

model.packing fills these rows from spec objects; kernels read them by these constants.
"""

# ---- model architecture row (counts of elements, not bytes) ------------------------------
A_N_LAYERS = 0
A_HIDDEN = 1
A_N_HEADS = 2
A_KV_SHARD_MAX = 3          # ways the KV cache can be split by tensor parallelism (GQA: KV heads; MLA: 1)
A_QKV_PARAMS = 4            # input projections per layer (q, k, v; or MLA q_a, q_b, kv_a, kv_b)
A_QKV_OUT = 5               # elements produced per token by the input projections
A_O_PARAMS = 6              # output projection per layer
A_O_IN = 7                  # elements per token entering the output projection
A_KV_ELEMS = 8              # cached elements per token per layer (GQA: 2*kv_heads*head_dim; MLA: kv_lora+rope)
A_ATT_DIM_PREFILL = 9       # per query token per context position: heads*(qk_dim + v_dim)
A_ATT_DIM_DECODE = 10       # same, decode (MLA absorbed: heads*(2*kv_lora + rope))
A_N_WINDOW_LAYERS = 11
A_WINDOW = 12
A_N_DENSE_LAYERS = 13
A_DENSE_MLP_PARAMS = 14
A_DENSE_FFN = 15
A_N_MOE_LAYERS = 16
A_N_EXPERTS = 17
A_TOPK = 18
A_N_SHARED = 19
A_EXPERT_PARAMS = 20
A_EXPERT_FFN = 21
A_VOCAB = 22
A_TOTAL_PARAMS = 23
A_FIELDS = 24

# ---- chip row (for one chosen compute dtype) ---------------------------------------------
C_PEAK_FLOPS = 0            # dense FLOP/s of the compute dtype
C_MEM_BW = 1                # bytes/s of the tier that holds weights and KV
C_MEM_BYTES = 2             # capacity of that tier
C_EFF_PREFILL = 3
C_EFF_DECODE = 4
C_EFF_MEM = 5
C_EFF_NET = 6
C_OVERHEAD_S = 7
C_USABLE_FRAC = 8
C_UP_BW = 9                 # scale-up bytes/s per direction
C_UP_DOMAIN = 10
C_UP_LAT_S = 11
C_OUT_BW = 12               # scale-out bytes/s per direction
C_OUT_LAT_S = 13
C_TDP_W = 14
C_PREFILL_OVERHEAD_S = 15   # fixed time of one prefill (its own graph launch and scheduling)
C_OVERLAP_LOSS = 16         # share of the shorter of an operator's compute and memory times left exposed
# spatial dataflow chips (kernels/spatial_step.py; zero for the roofline model)
C_SPATIAL = 17              # 1: the chip has a [spatial] section and runs the spatial model
C_SP_MESH_X = 18            # processing elements along one side of a chip's on-chip fabric
C_SP_MESH_Y = 19            # ... and along the other
C_SP_HOP_S = 20             # seconds for an activation to cross one PE-to-PE hop
C_SP_LINK_BW = 21           # bytes/s of one PE-to-PE link, per direction
C_SP_MAX_GROUPS = 22        # most layer regions one chip may be split into (pipelined inside the chip)
C_SP_STREAM_BW = 23         # bytes/s of the capacity tier weights can stream from (MemoryX, DDR, LPDDR); 0: none
C_UP_TORUS_DIMS = 24        # dimensions of a torus scale-up fabric (0: switched or fully connected)
C_GEMM_ROW_TILE = 25        # fewest rows (tokens) a matrix instruction computes at once (0 reads as 1)
C_VECTOR_FLOPS = 26         # FP32 FLOP/s of the vector units (CUDA cores, VPU; an FMA counts 2): dequantisation
C_FIELDS = 27

# ---- deployment row: how one replica is split over its chips and run ------------------------
# A replica has D_TP x D_ATTN_DP x D_PP chips. Attention, dense layers, shared experts, the router,
# embedding and LM head run in D_ATTN_DP groups of D_TP chips (tensor parallel inside a group), each
# group with its own sequences and KV cache. Routed experts run over all D_TP x D_ATTN_DP chips of a
# stage: D_EP expert-parallel ranks, each expert split over (D_TP x D_ATTN_DP) / D_EP chips (expert TP).
D_TP = 0                    # attention tensor parallelism
D_PP = 1                    # pipeline stages
D_ATTN_DP = 2               # attention data parallelism inside a replica (0 reads as 1)
D_EP = 3                    # expert parallelism over the D_TP x D_ATTN_DP chips of a stage (0 reads as 1)
D_W_BYTES = 4               # bytes per weight element
D_KV_BYTES = 5              # bytes per KV-cache element
D_ACT_BYTES = 6             # bytes per activation element
D_DISPATCH_BYTES = 7        # bytes per element of a token's hidden state sent to its experts (0: D_ACT_BYTES)
D_TBO = 8                   # 1: the engine splits a batch in two micro-batches so one's expert exchange
                            # runs under the other's compute (two-batch overlap) when that is faster
D_REDUNDANT_EXPERTS = 9     # extra routed-expert slots per MoE layer holding copies of hot experts (EPLB)
D_ROUTING_SKEW = 10         # Zipf exponent of the experts' popularity (0: every expert equally likely)
# speculative decoding: each decode step drafts D_SPEC_TOKENS tokens and verifies them in one pass
D_SPEC_TOKENS = 11          # tokens drafted per step (0: no speculation)
D_SPEC_ACCEPT = 12          # probability that a drafted token is accepted
D_SPEC_DRAFT_COST = 13      # one drafted token's time, as a share of the target's one-token decode step
D_SPEC_LAUNCHES = 14        # extra step overheads per step (a draft model's own forward passes)
D_SPEC_WEIGHTS = 15         # the draft's weights, as a share of the target's
D_DEQUANT_OPS = 16          # weight-only quantisation: vector operations to unpack and scale one weight (0: none)
D_FIELDS = 17

# ---- one configuration to evaluate --------------------------------------------------------
K_CHIP = 0                  # row in the chip matrix
K_MODEL = 1                 # row in the architecture matrix
K_BATCH = 2                 # sequences per replica; 0 = the largest that fits
K_INPUT_LEN = 3
K_OUTPUT_LEN = 4
K_REPLICAS = 5              # data-parallel replicas
K_PREFILL_CHUNK = 6         # tokens per prefill chunk (activation memory); 0 = whole prompt
K_DEPLOY = 7                # the deployment row (D_* fields) starts here: cfg[K_DEPLOY:K_FIELDS]
K_TP = K_DEPLOY + D_TP
K_PP = K_DEPLOY + D_PP
K_ATTN_DP = K_DEPLOY + D_ATTN_DP
K_EP = K_DEPLOY + D_EP
K_W_BYTES = K_DEPLOY + D_W_BYTES
K_KV_BYTES = K_DEPLOY + D_KV_BYTES
K_ACT_BYTES = K_DEPLOY + D_ACT_BYTES
K_DISPATCH_BYTES = K_DEPLOY + D_DISPATCH_BYTES
K_TBO = K_DEPLOY + D_TBO
K_REDUNDANT_EXPERTS = K_DEPLOY + D_REDUNDANT_EXPERTS
K_ROUTING_SKEW = K_DEPLOY + D_ROUTING_SKEW
K_SPEC_TOKENS = K_DEPLOY + D_SPEC_TOKENS
K_SPEC_ACCEPT = K_DEPLOY + D_SPEC_ACCEPT
K_FIELDS = K_DEPLOY + D_FIELDS

# ---- results of one configuration --------------------------------------------------------
R_FITS = 0                  # 1 when weights + KV + activations fit, else 0
R_BATCH = 1
R_TTFT_S = 2
R_TPOT_S = 3
R_USER_TOK_S = 4
R_REPLICA_TOK_S = 5         # output tokens/s of one replica
R_SYSTEM_TOK_S = 6
R_CHIPS = 7
R_DECODE_BOUND = 8          # BOUND_* with the largest share of decode step time
R_PREFILL_BOUND = 9
R_WEIGHT_BYTES_CHIP = 10
R_KV_BYTES_CHIP = 11
R_MEM_USED_FRAC = 12
R_MAX_BATCH = 13
R_PREFILL_SHARE = 14        # share of a replica's time spent in prefill (for the input/output cost split)
R_FIELDS = 15

# ---- operators of one forward step --------------------------------------------------------
OP_EMBED = 0
OP_QKV = 1
OP_ATTN = 2
OP_ATTN_WINDOW = 3
OP_O_PROJ = 4
OP_MLP = 5
OP_ROUTER = 6
OP_EXPERTS = 7
OP_SHARED_EXPERTS = 8
OP_NORM = 9
OP_LM_HEAD = 10
OP_TP_ALLREDUCE = 11
OP_EP_ALLTOALL = 12
OP_PP_SENDRECV = 13
N_OPS = 14
OP_NAMES = (
    "embed", "qkv_proj", "attention", "attention_window", "o_proj", "mlp", "moe_router",
    "moe_experts", "moe_shared_experts", "norm_elementwise", "lm_head", "tp_allreduce",
    "ep_alltoall", "pp_sendrecv",
)

BOUND_COMPUTE = 0
BOUND_MEMORY = 1
BOUND_NETWORK = 2
BOUND_NAMES = ("compute", "memory", "network")

# ---- budget row (central values; a Monte Carlo sample replaces them) ----------------------
B_HBM2 = 0                  # $/GB by HBM generation: B_HBM2 + generation index
B_HBM2E = 1
B_HBM3 = 2
B_HBM3E = 3
B_HBM4 = 4
B_AVG_POWER = 5             # average / peak power of a chip serving at full load
B_IDLE_POWER = 6            # power of a provisioned chip with no load / peak
B_CLUSTER_CHIPS = 7         # chips on one scale-out fabric (sizes its tiers)
B_SWITCH_GBPS = 8           # scale-out switch capacity, Gb/s per direction (its radix at a NIC's speed: / NIC Gb/s)
B_SWITCH_USD = 9            # one scale-out switch
B_SWITCH_W = 10
B_MODULE_GBPS = 11          # scale-out optical module speed (its switch-side ports per module: / NIC Gb/s)
B_MODULE_USD = 12
B_MODULE_W = 13
B_NIC_LEAF_OPTICAL = 14     # share of NIC-to-leaf links that are optical (the rest copper)
B_USD_PER_KWH = 15
B_PUE = 16
B_FACILITY_USD_PER_W = 17
B_FACILITY_LIFE_Y = 18
B_CHIP_LIFE_Y = 19
B_RATE = 20                 # cost of capital per year
B_UPKEEP = 21               # upkeep as a fraction of the capital charge
B_FIELDS = 22

# ---- one chip's cost inputs (its own, its platform's and, for a renter, its rent) --------
P_BOM = 0                   # 1: priced from its bill of materials; 0: market price
P_MARKET_USD = 1
P_PARTS_USD = 2             # BOM without HBM: logic die + packaging + board
P_HBM_GB = 3
P_HBM_GEN = 4               # 0..4 = hbm2, hbm2e, hbm3, hbm3e, hbm4
P_MARGIN = 5                # seller's gross margin (BOM pricing)
P_TDP_W = 6
P_NIC_GBPS = 7              # scale-out bandwidth of one chip, Gb/s per direction (one NIC port)
P_SERVER_USD = 8            # platform: server or tray around the chip, per chip (host, DRAM, NICs, chassis, power)
P_SCALEUP_USD = 9           # platform: scale-up switches, baseboard, cables, optical circuit switches, per chip
P_SCALEUP_MODULES = 10      # platform: optical modules of the scale-up fabric per chip
P_SCALEUP_MODULE_USD = 11
P_SCALEUP_MODULE_W = 12
P_POWER_OVERHEAD = 13       # platform: system IT power above chip TDP (host, fans, switches), fraction; optics apart
P_RENT_USD_H = 14           # > 0: a renter's price per chip-hour, which replaces every owner's component
P_FIELDS = 15

# ---- scale-out fabric of one chip (a non-blocking fat tree), kernels.chip_cost.fat_tree_nb ----
F_TIERS = 0
F_SWITCHES = 1              # switches per chip
F_SWITCH_PORTS = 2          # switch ports per chip, at the NIC's speed
F_MODULES = 3               # optical modules per chip
F_OPTICS_USD = 4            # $ of those modules per chip
F_OPTICS_W = 5
F_SWITCH_USD = 6            # $ of switches per chip
F_SWITCH_W = 7
F_FIELDS = 8

# ---- cost components of one chip, $/hour unless named otherwise -----------------------------
CC_CHIP = 0
CC_HBM = 1                  # the HBM part of CC_CHIP
CC_SERVER = 2
CC_SCALEUP = 3              # scale-up fabric incl. its optics
CC_NETWORK = 4              # scale-out fabric: switches and optics
CC_FACILITY = 5
CC_POWER = 6
CC_UPKEEP = 7
CC_RENT = 8                 # a renter's price (the owner's components are then 0)
CC_TOTAL = 9
CC_CHIP_PRICE_USD = 10
CC_IT_POWER_AVG_W = 11      # average IT power of the chip, its platform share and network, at full load
CC_SITE_POWER_AVG_W = 12    # the same times PUE
CC_SITE_POWER_PEAK_W = 13   # peak IT power times PUE: what a site must provision
CC_POWER_IDLE = 14          # power $/hour of the chip provisioned but idle (not in the total)
CC_OPTICS = 15              # optics $/hour (scale-up and scale-out), part of CC_SCALEUP + CC_NETWORK
CC_MODULES = 16             # optical modules per chip, scale-up and scale-out
CC_FIELDS = 17
CC_NAMES = ("chip", "hbm", "server", "scaleup", "network", "facility", "power", "upkeep", "rent", "total",
            "chip_price_usd", "it_power_avg_w", "site_power_avg_w", "site_power_peak_w", "power_idle",
            "optics", "optical_modules")
HOURS_PER_YEAR = 8766.0
