// The mlx backend's GEMV family: y = alpha · A · B + beta · C for m ≤ 8 rows of
// A, every row sharing each weight read (each weight byte is read once per
// call). ACT is A's type, AUX is B's (float or GGUF blocks), and PARAM packs
// the flags: bits 0-3 M (rows of A), bit 4 C is f32 (else ACT), bit 5 A's
// rows are k-contiguous and 16-byte aligned (vector loads), bit 6 B's rows
// are 16-byte aligned (float B stored [n, k]: uint4 loads straight to
// registers), bits 7-8 log2 of SPLIT, the warps that share one row of B
// stored [n, k] (each takes a contiguous share of k; few long rows need it
// to keep enough loads in flight). Arithmetic is f32.
//
// Every entry takes the same arguments: C, A, B (bytes); n, k; A's strides
// (row i, column k) and C's (row i, column j) in elements; B's stride between
// consecutive rows of its storage in bytes; alpha, beta; the batch as
// z = outer · inner + inner index with per-operand strides (A, C in elements,
// B in bytes); B's buffer end (the staged loader reads no byte past it).

// GGUF type ids common.cuh leaves out.
#define DT_Q4_0 2
#define DT_Q4_1 3
#define DT_Q5_1 7

#define GEMV_M (PARAM & 15)
#define C_IS_F32 ((PARAM >> 4) & 1)
#define A_VEC ((PARAM >> 5) & 1)
#define B_VEC ((PARAM >> 6) & 1)
#define SPLIT (1 << ((PARAM >> 7) & 3))

#if C_IS_F32
typedef float out_t;
#else
typedef act_t out_t;
#endif

// Warps per block of the dot-product kernels: DOT_WARPS / SPLIT rows of B.
#define DOT_WARPS 4
// Warps per block of the [k, n] kernel, each taking a share of k.
#define KN_WARPS 8
// uint4 loads each lane keeps in flight in the float kernel.
#define UNROLL 4

#define GEMV_ARGS                                                               \
    out_t *c, const act_t *a, const u8 *b, u32 n, u32 k, u64 a_rs, u64 a_cs,    \
        u64 c_rs, u64 c_cs, u64 b_ld, float alpha, float beta, u32 inner,       \
        u64 a_bo, u64 a_bi, u64 b_bo, u64 b_bi, u64 c_bo, u64 c_bi, u64 b_len

// The operands of batch blockIdx.z, moved to their first element.
#define GEMV_BATCH                                                              \
    const u32 outer_ = blockIdx.z / inner, inner_ = blockIdx.z % inner;         \
    a += outer_ * a_bo + inner_ * a_bi;                                         \
    b += outer_ * b_bo + inner_ * b_bi;                                         \
    c += outer_ * c_bo + inner_ * c_bi;

// Weights are read once: no L1 allocation, so A stays cached there.
__device__ __forceinline__ uint4 load_stream(const void *p) {
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
}

// Values of one 32-bit word of packed storage, as f32.
__device__ __forceinline__ void unpack_word(u32 w, float *out, float) {
    out[0] = __uint_as_float(w);
}
__device__ __forceinline__ void unpack_word(u32 w, float *out, f16) {
    out[0] = half_bits_to_f32((u16)(w & 0xffffu));
    out[1] = half_bits_to_f32((u16)(w >> 16));
}
__device__ __forceinline__ void unpack_word(u32 w, float *out, bf16) {
    out[0] = __uint_as_float(w << 16);
    out[1] = __uint_as_float(w & 0xffff0000u);
}

template <typename T> struct Per {
    static constexpr int WORD = 4 / sizeof(T);   // values per 32-bit word
    static constexpr int VEC = 16 / sizeof(T);   // values per uint4
};

template <typename T>
__device__ __forceinline__ void unpack_vec(uint4 v, float *out) {
    constexpr int W = Per<T>::WORD;
    unpack_word(v.x, out, T());
    unpack_word(v.y, out + W, T());
    unpack_word(v.z, out + 2 * W, T());
    unpack_word(v.w, out + 3 * W, T());
}

// N values of A starting at p as f32. With A_VEC, p is aligned to the
// smaller of 16 bytes and the N values' size.
template <int N>
__device__ __forceinline__ void load_act(const act_t *p, u64 stride, float *out) {
#if A_VEC
    constexpr int V = Per<act_t>::VEC;
    if constexpr (N >= V) {
#pragma unroll
        for (int i = 0; i < N / V; ++i)
            unpack_vec<act_t>(*(const uint4 *)(p + i * V), out + i * V);
    } else {
        // f16/bf16 A beside f32 weights: 4 values are 8 bytes.
        uint2 v = *(const uint2 *)p;
        constexpr int W = Per<act_t>::WORD;
        unpack_word(v.x, out, act_t());
        unpack_word(v.y, out + W, act_t());
    }
#else
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_f32(p[i * stride]);
#endif
}

// acc[i] += A[i, k0 .. k0 + N) · w for every row i of A.
template <int N>
__device__ __forceinline__ void dot_rows(float *acc, const act_t *a, u64 a_rs,
                                         u64 a_cs, u32 k0, const float *w) {
#pragma unroll
    for (int i = 0; i < GEMV_M; ++i) {
        float x[N];
        load_act<N>(a + i * a_rs + (u64)k0 * a_cs, a_cs, x);
#pragma unroll
        for (int j = 0; j < N; ++j) acc[i] = fmaf(x[j], w[j], acc[i]);
    }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// C[i, col] = alpha · acc + beta · C[i, col]; beta = 0 never reads C.
__device__ __forceinline__ void store_out(out_t *c, u64 c_rs, u64 c_cs, u32 i,
                                          u32 col, float acc, float alpha,
                                          float beta) {
    out_t *p = c + i * c_rs + (u64)col * c_cs;
    float v = alpha * acc;
    if (beta != 0.0f) v = fmaf(beta, to_f32(*p), v);
    store_f32(p, v);
}

// Reduces each row's partial sums over the warp; lane i stores row i.
__device__ __forceinline__ void finish_row(float *acc, u32 lane, out_t *c, u64 c_rs,
                                           u64 c_cs, u32 col, float alpha,
                                           float beta) {
#pragma unroll
    for (int i = 0; i < GEMV_M; ++i) {
        float total = warp_sum(acc[i]);
        if (lane == (u32)i) store_out(c, c_rs, c_cs, i, col, total, alpha, beta);
    }
}

// The row of B a warp of the [n, k] kernels works on, and its share
// [begin, end) of the row's `count` items, cut in multiples of `grain`.
struct Share {
    u32 row, slice, begin, end;
};

__device__ __forceinline__ Share share_of(u32 count, u32 grain) {
    const u32 warp = threadIdx.x >> 5;
    Share s;
    s.row = blockIdx.x * (DOT_WARPS / SPLIT) + warp / SPLIT;
    s.slice = warp % SPLIT;
    const u32 per = ((count + SPLIT - 1) / SPLIT + grain - 1) / grain * grain;
    s.begin = s.slice * per < count ? s.slice * per : count;
    s.end = s.begin + per < count ? s.begin + per : count;
    return s;
}

// Sums each row of A's partial sums over the warp and, with SPLIT > 1, over
// the warps sharing the B row (through shared memory, so every thread of
// the block must call it); then lane i of the row's first warp stores C[i].
__device__ __forceinline__ void finish(float *acc, const Share &s, u32 n, out_t *c,
                                       u64 c_rs, u64 c_cs, float alpha, float beta) {
    const u32 lane = threadIdx.x & 31;
#if SPLIT == 1
    if (s.row < n) finish_row(acc, lane, c, c_rs, c_cs, s.row, alpha, beta);
#else
    __shared__ float partial[DOT_WARPS][GEMV_M];
    const u32 warp = threadIdx.x >> 5;
#pragma unroll
    for (int i = 0; i < GEMV_M; ++i) {
        float total = warp_sum(acc[i]);
        if (lane == 0) partial[warp][i] = total;
    }
    __syncthreads();
    if (s.slice == 0 && s.row < n && lane < GEMV_M) {
        float total = 0.0f;
        for (int w = 0; w < SPLIT; ++w) total += partial[warp + w][lane];
        store_out(c, c_rs, c_cs, lane, s.row, total, alpha, beta);
    }
#endif
}

#if AUX == DT_F32 || AUX == DT_F16 || AUX == DT_BF16

// Float B stored [n, k]: SPLIT warps per row, lanes across k.
extern "C" __global__ void __launch_bounds__(DOT_WARPS * 32) gemv_nk_float(GEMV_ARGS) {
    GEMV_BATCH
    (void)b_len;
    const u32 lane = threadIdx.x & 31;
    float acc[GEMV_M];
#pragma unroll
    for (int i = 0; i < GEMV_M; ++i) acc[i] = 0.0f;
#if B_VEC
    constexpr int V = Per<aux_t>::VEC;
    const u32 vecs = k / V;
    const Share s = share_of(vecs, 1);
    // The elements past the last whole uint4 go to the row's first warp.
    const u32 tail = s.slice == 0 ? vecs * V : k, tail_end = k;
#else
    const Share s = share_of(k, 1);
    const u32 tail = s.begin, tail_end = s.end;
#endif
    const aux_t *w = (const aux_t *)(b + (u64)s.row * b_ld);
    if (s.row < n) {
#if B_VEC
        // All of a step's loads are issued before the first use: a row of
        // the small matrices is one step, one memory latency.
        for (u32 v = s.begin + lane; v < s.end; v += 32 * UNROLL) {
            uint4 raw[UNROLL];
#pragma unroll
            for (int u = 0; u < UNROLL; ++u)
                if (v + 32 * u < s.end) raw[u] = load_stream(w + (v + 32 * u) * V);
#pragma unroll
            for (int u = 0; u < UNROLL; ++u) {
                if (v + 32 * u >= s.end) break;
                float wf[V];
                unpack_vec<aux_t>(raw[u], wf);
                dot_rows<V>(acc, a, a_rs, a_cs, (v + 32 * u) * V, wf);
            }
        }
#endif
        // Scalar loads: the tail, or the warp's whole share without B_VEC.
        for (u32 kk = tail + lane; kk < tail_end; kk += 32) {
            float wf = to_f32(w[kk]);
#pragma unroll
            for (int i = 0; i < GEMV_M; ++i)
                acc[i] = fmaf(to_f32(a[i * a_rs + (u64)kk * a_cs]), wf, acc[i]);
        }
    }
    finish(acc, s, n, c, c_rs, c_cs, alpha, beta);
}

// Float B stored [k, n]: a block takes 32 columns (one per lane), its warps
// split k, and the partial sums meet in shared memory.
extern "C" __global__ void __launch_bounds__(KN_WARPS * 32) gemv_kn_float(GEMV_ARGS) {
    GEMV_BATCH
    (void)b_len;
    __shared__ float partial[KN_WARPS][GEMV_M][32];
    const u32 lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const u32 col = blockIdx.x * 32 + lane;
    float acc[GEMV_M];
#pragma unroll
    for (int i = 0; i < GEMV_M; ++i) acc[i] = 0.0f;
    if (col < n) {
        for (u32 kk = warp; kk < k; kk += KN_WARPS) {
            float wf = to_f32(((const aux_t *)(b + (u64)kk * b_ld))[col]);
#pragma unroll
            for (int i = 0; i < GEMV_M; ++i)
                acc[i] = fmaf(to_f32(a[i * a_rs + (u64)kk * a_cs]), wf, acc[i]);
        }
    }
#pragma unroll
    for (int i = 0; i < GEMV_M; ++i) partial[warp][i][lane] = acc[i];
    __syncthreads();
    if (col >= n) return;
    for (u32 i = warp; i < GEMV_M; i += KN_WARPS) {
        float total = 0.0f;
#pragma unroll
        for (int w = 0; w < KN_WARPS; ++w) total += partial[w][i][lane];
        store_out(c, c_rs, c_cs, i, col, total, alpha, beta);
    }
}

#else

// GGUF blocks stored [n, k]. A "unit" is 32 consecutive values of a row: one
// block of the 32-value types, an eighth of a K-quant super-block. Each lane
// decodes 4 consecutive values of a unit (8 lanes a unit, 4 units a warp
// step), so a warp's loads of A are 512 contiguous bytes: small integers q
// (bias already taken off) with value = scale · q + low; HAS_LOW says whether
// low can be nonzero.
#if AUX == DT_Q8_0
#define BLOCK_BYTES 34
#define UNITS_PER_BLOCK 1
#define HAS_LOW 0
#elif AUX == DT_Q5_0
#define BLOCK_BYTES 22
#define UNITS_PER_BLOCK 1
#define HAS_LOW 0
#elif AUX == DT_Q4_0
#define BLOCK_BYTES 18
#define UNITS_PER_BLOCK 1
#define HAS_LOW 0
#elif AUX == DT_Q4_1
#define BLOCK_BYTES 20
#define UNITS_PER_BLOCK 1
#define HAS_LOW 1
#elif AUX == DT_Q5_1
#define BLOCK_BYTES 24
#define UNITS_PER_BLOCK 1
#define HAS_LOW 1
#elif AUX == DT_Q4_K
#define BLOCK_BYTES 144
#define UNITS_PER_BLOCK 8
#define HAS_LOW 1
#elif AUX == DT_Q6_K
#define BLOCK_BYTES 210
#define UNITS_PER_BLOCK 8
#define HAS_LOW 0
#endif

// Units of a row staged per warp and pass.
#define STAGE_UNITS 64
#define STAGE_BLOCKS (STAGE_UNITS / UNITS_PER_BLOCK)
// The staged bytes start at the 16-byte boundary below the first block.
#define STAGE_BYTES (((STAGE_BLOCKS * BLOCK_BYTES + 15) / 16 + 1) * 16)
#define STAGE_VECS ((STAGE_BYTES / 16 + 31) / 32)

// The integer b - bias as f32, exactly, without an int-to-float conversion
// (0x4B000000 is 2^23; b < 2^23 lands in the mantissa).
__device__ __forceinline__ float small_int(u32 b, float bias) {
    return __uint_as_float(0x4B000000u | b) - (8388608.0f + bias);
}

__device__ __forceinline__ float f16_at(const u8 *p) { return half_bits_to_f32(read_u16(p)); }

// Four bytes from 2-byte aligned shared memory, little-endian.
__device__ __forceinline__ u32 u32_at(const u8 *p) {
    const u16 *h = (const u16 *)p;
    return (u32)h[0] | ((u32)h[1] << 16);
}

// Values 4·part .. 4·part + 3 of unit `sub` of the block at `blk` (shared
// memory, 2-byte aligned).
__device__ __forceinline__ void decode4(const u8 *blk, int sub, int part, float *q,
                                        float &scale, float &low) {
    const int j0 = 4 * part;
#if AUX == DT_Q8_0
    (void)sub;
    scale = f16_at(blk);
    low = 0.0f;
    const u32 bytes = u32_at(blk + 2 + j0);
#pragma unroll
    for (int t = 0; t < 4; ++t) q[t] = small_int(((bytes >> (8 * t)) & 0xffu) ^ 0x80u, 128.0f);
#elif AUX == DT_Q5_0 || AUX == DT_Q5_1 || AUX == DT_Q4_0 || AUX == DT_Q4_1
    (void)sub;
    constexpr bool five = AUX == DT_Q5_0 || AUX == DT_Q5_1;
    constexpr bool has_min = AUX == DT_Q4_1 || AUX == DT_Q5_1;
    constexpr int head = (has_min ? 4 : 2) + (five ? 4 : 0);
    // Values j and j + 16 share byte j % 16 (low and high nibble).
    const u32 bytes = u32_at(blk + head + (j0 & 15));
    const int shift = j0 >= 16 ? 4 : 0;
    u32 high = 0;
    if (five) high = (u32_at(blk + (has_min ? 4 : 2)) >> j0) << 4;
    constexpr float bias = AUX == DT_Q5_0 ? 16.0f : (AUX == DT_Q4_0 ? 8.0f : 0.0f);
    scale = f16_at(blk);
    low = has_min ? f16_at(blk + 2) : 0.0f;
#pragma unroll
    for (int t = 0; t < 4; ++t)
        q[t] = small_int(((bytes >> (8 * t + shift)) & 0xfu) | ((high >> t) & 0x10u), bias);
#elif AUX == DT_Q4_K
    // Sub-block `sub` of 8: the low (even) or high (odd) nibbles of 32 bytes.
    const u8 *scales = blk + 4;
    int sc, m;
    if (sub < 4) {
        sc = scales[sub] & 63;
        m = scales[sub + 4] & 63;
    } else {
        sc = (scales[sub + 4] & 0xf) | ((scales[sub - 4] >> 6) << 4);
        m = (scales[sub + 4] >> 4) | ((scales[sub] >> 6) << 4);
    }
    scale = f16_at(blk) * (float)sc;
    low = -f16_at(blk + 2) * (float)m;
    const u32 bytes = u32_at(blk + 16 + (sub >> 1) * 32 + j0);
    const int shift = (sub & 1) * 4;
#pragma unroll
    for (int t = 0; t < 4; ++t) q[t] = small_int((bytes >> (8 * t + shift)) & 0xfu, 0.0f);
#elif AUX == DT_Q6_K
    // Unit `sub` = (half, quarter) of 128-value halves: 32 low nibbles (or
    // high ones), 2 bits each from qh, a scale per 16 values.
    const int half = sub >> 2, quarter = sub & 3;
    const u32 lows = u32_at(blk + half * 64 + 32 * (quarter & 1) + j0);
    const u32 highs = u32_at(blk + 128 + half * 32 + j0);
    const int lshift = quarter >= 2 ? 4 : 0, hshift = 2 * quarter;
    scale = f16_at(blk + 208) * (float)((const i8 *)blk)[192 + half * 8 + 2 * quarter + (part >> 2)];
    low = 0.0f;
#pragma unroll
    for (int t = 0; t < 4; ++t)
        q[t] = small_int(((lows >> (8 * t + lshift)) & 0xfu) |
                             (((highs >> (8 * t + hshift)) & 3u) << 4),
                         32.0f);
#endif
}

// Quantized B: SPLIT warps per row. A warp copies up to STAGE_UNITS units of
// its share of the row into shared memory with aligned uint4 loads (the
// row's blocks have no 16-byte alignment), then decodes them from there, 4
// units per step.
extern "C" __global__ void __launch_bounds__(DOT_WARPS * 32) gemv_nk_blocks(GEMV_ARGS) {
    const u8 *b_end = b + b_len;
    GEMV_BATCH
    __shared__ __align__(16) u8 stage[DOT_WARPS][STAGE_BYTES];
    const u32 lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const Share s = share_of(k / 32, UNITS_PER_BLOCK);
    const u8 *w = b + (u64)s.row * b_ld;
    u8 *mine = stage[warp];
    float acc[GEMV_M];
#pragma unroll
    for (int i = 0; i < GEMV_M; ++i) acc[i] = 0.0f;
    const u32 group = lane >> 3, part = lane & 7;
    const u32 end = s.row < n ? s.end : s.begin;
    for (u32 first = s.begin; first < end; first += STAGE_UNITS) {
        const u32 count = end - first < STAGE_UNITS ? end - first : STAGE_UNITS;
        const u8 *lo = w + (first / UNITS_PER_BLOCK) * BLOCK_BYTES;
        const u8 *hi = lo + (count / UNITS_PER_BLOCK) * BLOCK_BYTES;
        const u8 *base = (const u8 *)((u64)lo & ~(u64)15);
        const u32 vecs = (u32)((hi - base + 15) / 16);
        uint4 raw[STAGE_VECS];
#pragma unroll
        for (int t = 0; t < STAGE_VECS; ++t) {
            const u32 v = lane + 32 * t;
            const u8 *p = base + 16 * v;
            if (v < vecs && p + 16 <= b_end) raw[t] = load_stream(p);
        }
#pragma unroll
        for (int t = 0; t < STAGE_VECS; ++t) {
            const u32 v = lane + 32 * t;
            const u8 *p = base + 16 * v;
            if (v >= vecs) continue;
            if (p + 16 <= b_end) {
                *(uint4 *)(mine + 16 * v) = raw[t];
            } else {
                // The buffer's last, partial 16 bytes.
                for (const u8 *q = p; q < b_end; ++q) mine[q - base] = *q;
            }
        }
        __syncwarp();
        const u8 *blocks = mine + (lo - base);
        for (u32 u = group; u < count; u += 4) {
            float q[4], scale, low;
            decode4(blocks + (u / UNITS_PER_BLOCK) * BLOCK_BYTES,
                    (int)(u % UNITS_PER_BLOCK), (int)part, q, scale, low);
            const u32 k0 = (first + u) * 32 + 4 * part;
#pragma unroll
            for (int i = 0; i < GEMV_M; ++i) {
                float x[4];
                load_act<4>(a + i * a_rs + (u64)k0 * a_cs, a_cs, x);
                float dot = 0.0f, sum = 0.0f;
#pragma unroll
                for (int t = 0; t < 4; ++t) {
                    dot = fmaf(x[t], q[t], dot);
                    if (HAS_LOW) sum += x[t];
                }
                acc[i] = fmaf(scale, dot, acc[i]);
                if (HAS_LOW) acc[i] = fmaf(low, sum, acc[i]);
            }
        }
        __syncwarp();
    }
    finish(acc, s, n, c, c_rs, c_cs, alpha, beta);
}

#endif
