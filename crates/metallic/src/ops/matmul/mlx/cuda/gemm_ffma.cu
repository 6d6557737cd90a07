// Tiled GEMM after MLX's "steel" design, f32: D = alpha * A·B + beta * C for
// one output tile per block, the batch (and split-K slices) over grid z.
// Exact FFMA on 8×8 (or 4×4) register tiles per thread; no TF32.
//
// ACT: F32 (A and B); AUX: dtype of C (F32). Compile-time flags:
//   BM BN BK       block tile (rows of C, columns of C, depth per stage)
//   STAGES         shared-memory stages in flight (4-byte cp.async)
//   TRANS_A        A stored [k][m] (else [m][k]); TRANS_B: B stored [n][k] (else [k][n])
//   HAS_BATCH      grid z runs over batches with per-operand strides
//   ALIGN_M/N/K    the dimension is a multiple of the tile: no bounds checks
//   USE_OUT_SOURCE read C (beta != 0); DO_AXPBY: scale by alpha and beta
//   SPLIT_K        grid z also splits k; raw f32 sums go to a workspace
//   KERNEL_NAME    the entry point, spelling out the flags
// (WM, WN, VEC_A, VEC_B are defined for every GEMM and unused here.)

// Thread tile: 8×8 for large block tiles, 4×4 below 128×128 so that a small
// tile still has 256 threads.
constexpr int TT = BM * BN >= 128 * 128 ? 8 : 4;
constexpr int THREADS_N = BN / TT;
constexpr int THREADS = (BM / TT) * THREADS_N;
constexpr int PAD = 4;
constexpr int AS_LD = BM + PAD;
constexpr int BS_LD = BN + PAD;
constexpr int STAGE_FLOATS = BK * AS_LD + BK * BS_LD;

// Stage one BK slice of A (into [k][m]) and B (into [k][n]) with 4-byte
// copies, zero-filled outside the matrix; threads run along the stored
// contiguous dimension so that global reads coalesce.
__device__ __forceinline__ void load_stage(float *stage, const Slice &s, u32 m0, u32 n0, u32 k0,
                                           u32 m, u32 n, u32 lda, u32 ldb) {
    float *as = stage;
    float *bs = stage + BK * AS_LD;
    for (int e = threadIdx.x; e < BM * BK; e += THREADS) {
#if TRANS_A
        int mm = e % BM, kk = e / BM;
#else
        int kk = e % BK, mm = e / BK;
#endif
        u32 gm = m0 + mm, gk = k0 + kk;
        bool ok = (ALIGN_M || gm < m) && gk < s.k_end;
#if TRANS_A
        const act_t *src = s.a + (u64)gk * lda + gm;
#else
        const act_t *src = s.a + (u64)gm * lda + gk;
#endif
        cp_async4(shared_address(as + kk * AS_LD + mm), ok ? src : s.a, ok ? 4 : 0);
    }
    for (int e = threadIdx.x; e < BN * BK; e += THREADS) {
#if TRANS_B
        int kk = e % BK, nn = e / BK;
#else
        int nn = e % BN, kk = e / BN;
#endif
        u32 gn = n0 + nn, gk = k0 + kk;
        bool ok = (ALIGN_N || gn < n) && gk < s.k_end;
#if TRANS_B
        const act_t *src = s.b + (u64)gn * ldb + gk;
#else
        const act_t *src = s.b + (u64)gk * ldb + gn;
#endif
        cp_async4(shared_address(bs + kk * BS_LD + nn), ok ? src : s.b, ok ? 4 : 0);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
    KERNEL_NAME(aux_t *c, const act_t *a, const act_t *b, float *partial, u32 m, u32 n, u32 k,
                u32 lda, u32 ldb, u32 ldc, u32 k_chunk, u32 splits, u32 batch_inner, u64 a_si,
                u64 a_so, u64 b_si, u64 b_so, u64 c_si, u64 c_so, float alpha, float beta) {
    extern __shared__ __align__(16) float smem[];
    Slice s = slice_of(a, b, c, partial, m, n, k, k_chunk, splits, batch_inner, a_si, a_so, b_si,
                       b_so, c_si, c_so);
    u32 m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    int ty = threadIdx.x / THREADS_N, tx = threadIdx.x % THREADS_N;
    float acc[TT][TT];
#pragma unroll
    for (int i = 0; i < TT; ++i)
#pragma unroll
        for (int j = 0; j < TT; ++j) acc[i][j] = 0.0f;

    int tiles = (int)((s.k_end - s.k_begin + BK - 1) / BK);
#pragma unroll
    for (int t = 0; t < STAGES - 1; ++t) {
        if (t < tiles)
            load_stage(smem + t * STAGE_FLOATS, s, m0, n0, s.k_begin + t * BK, m, n, lda, ldb);
        cp_async_commit();
    }
    for (int t = 0; t < tiles; ++t) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        int next = t + STAGES - 1;
        if (next < tiles)
            load_stage(smem + (next % STAGES) * STAGE_FLOATS, s, m0, n0, s.k_begin + next * BK, m,
                       n, lda, ldb);
        cp_async_commit();
        const float *as = smem + (t % STAGES) * STAGE_FLOATS;
        const float *bs = as + BK * AS_LD;
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float av[TT], bv[TT];
#pragma unroll
            for (int i = 0; i < TT; i += 4) {
                *(float4 *)&av[i] = *(const float4 *)&as[kk * AS_LD + ty * TT + i];
                *(float4 *)&bv[i] = *(const float4 *)&bs[kk * BS_LD + tx * TT + i];
            }
#pragma unroll
            for (int i = 0; i < TT; ++i)
#pragma unroll
                for (int j = 0; j < TT; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
    }
    cp_async_wait<0>();

#pragma unroll
    for (int i = 0; i < TT; ++i) {
        u32 row = m0 + ty * TT + i;
        if (!ALIGN_M && row >= m) continue;
#pragma unroll
        for (int j = 0; j < TT; ++j) {
            u32 col = n0 + tx * TT + j;
            if (!ALIGN_N && col >= n) continue;
            store_result(s, row, col, n, ldc, acc[i][j], alpha, beta);
        }
    }
}
