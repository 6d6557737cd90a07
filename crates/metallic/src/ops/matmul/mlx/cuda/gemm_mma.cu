// Tiled GEMM after MLX's "steel" design, f16/bf16 inputs: D = alpha * A·B +
// beta * C for one output tile per block, the batch (and split-K slices)
// over grid z. Tiles are staged with 16-byte cp.async, read with ldmatrix
// and multiplied with mma.sync m16n8k16 (f32 accumulate).
//
// ACT: F16 or BF16 (A and B); AUX: dtype of C (ACT or F32). Compile-time flags:
//   BM BN BK       block tile (rows of C, columns of C, depth per stage)
//   WM WN          warps along M and N
//   STAGES         shared-memory stages in flight
//   TRANS_A        A stored [k][m] (else [m][k]); TRANS_B: B stored [n][k] (else [k][n])
//   VEC_A VEC_B    the operand's rows start 16-byte aligned: cp.async of 16 bytes
//   HAS_BATCH      grid z runs over batches with per-operand strides
//   ALIGN_M/N/K    the dimension is a multiple of the tile: no bounds checks
//   USE_OUT_SOURCE read C (beta != 0); DO_AXPBY: scale by alpha and beta
//   SPLIT_K        grid z also splits k; raw f32 sums go to a workspace
//   KERNEL_NAME    the entry point, spelling out the flags

constexpr int THREADS = WM * WN * 32;
constexpr int TM = BM / WM; // warp tile
constexpr int TN = BN / WN;
constexpr int MI = TM / 16; // mma tiles per warp
constexpr int NI = TN / 8;
static_assert(TM % 16 == 0 && TN % 16 == 0 && BK % 16 == 0, "tile shape");

// Shared layouts keep each operand's stored contiguous dimension contiguous,
// rows padded by 16 bytes so that ldmatrix's eight row reads hit distinct
// banks: A as [m][k] or (TRANS_A) [k][m]; B as [k][n] or (TRANS_B) [n][k].
constexpr int PAD = 8;
constexpr int A_ROWS = TRANS_A ? BK : BM;
constexpr int A_COLS = TRANS_A ? BM : BK;
constexpr int A_LD = A_COLS + PAD;
constexpr int B_ROWS = TRANS_B ? BN : BK;
constexpr int B_COLS = TRANS_B ? BK : BN;
constexpr int B_LD = B_COLS + PAD;
constexpr int STAGE_ELEMS = A_ROWS * A_LD + B_ROWS * B_LD;

// One operand's tile: ROWS × COLS of the stored matrix from (row0, col0),
// rows below row_end and columns below col_end (zeros beyond).
template <int ROWS, int COLS, int LD, bool VEC, bool CHECK_ROWS, bool CHECK_COLS>
__device__ __forceinline__ void load_tile(act_t *dst, const act_t *src, u32 ld, u32 row0, u32 col0,
                                          u32 row_end, u32 col_end) {
    if (VEC) {
        constexpr int CHUNKS_PER_ROW = COLS / 8;
        constexpr int CHUNKS = ROWS * CHUNKS_PER_ROW;
#pragma unroll
        for (int i = 0; i < (CHUNKS + THREADS - 1) / THREADS; ++i) {
            int chunk = threadIdx.x + i * THREADS;
            if (CHUNKS % THREADS != 0 && chunk >= CHUNKS) break;
            int r = chunk / CHUNKS_PER_ROW, cc = (chunk % CHUNKS_PER_ROW) * 8;
            u32 gr = row0 + r, gc = col0 + cc;
            u32 bytes = 16;
            if (CHECK_ROWS && gr >= row_end) bytes = 0;
            if (CHECK_COLS && bytes) {
                u32 left = gc < col_end ? col_end - gc : 0;
                bytes = left >= 8 ? 16 : left * 2;
            }
            const act_t *g = bytes ? src + (u64)gr * ld + gc : src;
            cp_async16(shared_address(dst + r * LD + cc), g, bytes);
        }
    } else {
        // Rows not 16-byte aligned: element by element through registers.
        for (int e = threadIdx.x; e < ROWS * COLS; e += THREADS) {
            int r = e / COLS, cc = e % COLS;
            u32 gr = row0 + r, gc = col0 + cc;
            bool ok = (!CHECK_ROWS || gr < row_end) && (!CHECK_COLS || gc < col_end);
            act_t v;
            v.bits = ok ? src[(u64)gr * ld + gc].bits : (u16)0;
            dst[r * LD + cc] = v;
        }
    }
}

__device__ __forceinline__ void load_stage(act_t *stage, const Slice &s, u32 m0, u32 n0, u32 k0,
                                           u32 m, u32 n, u32 lda, u32 ldb) {
    act_t *as = stage;
    act_t *bs = stage + A_ROWS * A_LD;
    // Every k-tile checks k against the slice's end unless k is aligned
    // (split slices are whole tiles, so only the matrix's end is ragged).
    constexpr bool CK = !ALIGN_K;
#if TRANS_A
    load_tile<BK, BM, A_LD, VEC_A, CK, !ALIGN_M>(as, s.a, lda, k0, m0, s.k_end, m);
#else
    load_tile<BM, BK, A_LD, VEC_A, !ALIGN_M, CK>(as, s.a, lda, m0, k0, m, s.k_end);
#endif
#if TRANS_B
    load_tile<BN, BK, B_LD, VEC_B, !ALIGN_N, CK>(bs, s.b, ldb, n0, k0, n, s.k_end);
#else
    load_tile<BK, BN, B_LD, VEC_B, CK, !ALIGN_N>(bs, s.b, ldb, k0, n0, s.k_end, n);
#endif
}

__device__ __forceinline__ void ldmatrix_x4(u32 (&r)[4], u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4_trans(u32 (&r)[4], u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void mma(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
#if ACT == DT_F16
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// One k16 step's fragments for the warp's tile: A as mma's four 8×8
// matrices per 16 rows, B as two per 8 columns. ldmatrix.x4 addressing:
// lane = 8·q + r supplies row r of matrix q.
__device__ __forceinline__ void load_fragments(u32 (&af)[MI][4], u32 (&bf)[NI][2], const act_t *as,
                                               const act_t *bs, int kk, int wm0, int wn0,
                                               int lane) {
    int q = lane >> 3, r8 = lane & 7;
#pragma unroll
    for (int i = 0; i < MI; ++i) {
        // Matrices: (rows 0-7, k 0-7), (rows 8-15, k 0-7), (0-7, 8-15), (8-15, 8-15).
        int row = wm0 + i * 16 + (q & 1) * 8, col = kk + (q >> 1) * 8;
#if TRANS_A
        ldmatrix_x4_trans(af[i], shared_address(as + (col + r8) * A_LD + row));
#else
        ldmatrix_x4(af[i], shared_address(as + (row + r8) * A_LD + col));
#endif
    }
#pragma unroll
    for (int j = 0; j < NI; j += 2) {
        // Matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15).
        int n0 = wn0 + j * 8 + (q >> 1) * 8, k0 = kk + (q & 1) * 8;
        u32 rb[4];
#if TRANS_B
        ldmatrix_x4(rb, shared_address(bs + (n0 + r8) * B_LD + k0));
#else
        ldmatrix_x4_trans(rb, shared_address(bs + (k0 + r8) * B_LD + n0));
#endif
        bf[j][0] = rb[0];
        bf[j][1] = rb[1];
        bf[j + 1][0] = rb[2];
        bf[j + 1][1] = rb[3];
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
    KERNEL_NAME(aux_t *c, const act_t *a, const act_t *b, float *partial, u32 m, u32 n, u32 k,
                u32 lda, u32 ldb, u32 ldc, u32 k_chunk, u32 splits, u32 batch_inner, u64 a_si,
                u64 a_so, u64 b_si, u64 b_so, u64 c_si, u64 c_so, float alpha, float beta) {
    extern __shared__ __align__(16) act_t smem[];
    Slice s = slice_of(a, b, c, partial, m, n, k, k_chunk, splits, batch_inner, a_si, a_so, b_si,
                       b_so, c_si, c_so);
    u32 m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int wm0 = (warp / WN) * TM, wn0 = (warp % WN) * TN;

    float acc[MI][NI][4];
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

    int tiles = (int)((s.k_end - s.k_begin + BK - 1) / BK);
#pragma unroll
    for (int t = 0; t < STAGES - 1; ++t) {
        if (t < tiles)
            load_stage(smem + t * STAGE_ELEMS, s, m0, n0, s.k_begin + t * BK, m, n, lda, ldb);
        cp_async_commit();
    }
    for (int t = 0; t < tiles; ++t) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();
        int next = t + STAGES - 1;
        if (next < tiles)
            load_stage(smem + (next % STAGES) * STAGE_ELEMS, s, m0, n0, s.k_begin + next * BK, m,
                       n, lda, ldb);
        cp_async_commit();
        const act_t *as = smem + (t % STAGES) * STAGE_ELEMS;
        const act_t *bs = as + A_ROWS * A_LD;
        // Fragments are double-buffered: step kk + 16's ldmatrix is issued
        // before step kk's mma, so its latency hides behind them.
        u32 af[2][MI][4], bf[2][NI][2];
        load_fragments(af[0], bf[0], as, bs, 0, wm0, wn0, lane);
#pragma unroll
        for (int step = 0; step < BK / 16; ++step) {
            int cur = step & 1;
            if (step + 1 < BK / 16)
                load_fragments(af[cur ^ 1], bf[cur ^ 1], as, bs, (step + 1) * 16, wm0, wn0, lane);
#pragma unroll
            for (int i = 0; i < MI; ++i)
#pragma unroll
                for (int j = 0; j < NI; ++j) mma(acc[i][j], af[cur][i], bf[cur][j][0], bf[cur][j][1]);
        }
    }
    cp_async_wait<0>();

    // Accumulator layout: d0, d1 at (lane/4, 2·(lane%4) + {0,1}); d2, d3 eight rows down.
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                u32 row = m0 + wm0 + i * 16 + (lane >> 2) + h * 8;
                if (!ALIGN_M && row >= m) continue;
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    u32 col = n0 + wn0 + j * 8 + (lane & 3) * 2 + e;
                    if (!ALIGN_N && col >= n) continue;
                    store_result(s, row, col, n, ldc, acc[i][j][h * 2 + e], alpha, beta);
                }
            }
}
