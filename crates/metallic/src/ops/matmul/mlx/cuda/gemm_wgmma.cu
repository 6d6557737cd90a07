// Tiled GEMM for Hopper (sm_90a): the warpgroup matrix-multiply
// (wgmma.mma_async) reads both operands straight from shared memory.
// Same contract, parameters and flags as gemm_mma.cu, for the layout of x·Wᵀ
// only: A stored [m][k] and B stored [n][k] (both k-contiguous), rows
// 16-byte aligned.
//
// ACT: F16 or BF16 (A and B); AUX: C's dtype. Flags:
//   BM = 64·WM     WM warpgroups, each 64 rows of the tile; BN ∈ {64, 128, 256}
//   BK = 64        one 128-byte row of k per tile row (one swizzle atom)
//   STAGES         shared-memory stages; STAGES - 1 tiles load ahead
//   HAS_BATCH, ALIGN_M/N/K, USE_OUT_SOURCE, DO_AXPBY, SPLIT_K, KERNEL_NAME
//
// Tiles are staged with cp.async in the 128-byte swizzled K-major layout
// that wgmma descriptors name: rows of 128 bytes, 16-byte chunk c of row r
// stored at chunk c ^ (r % 8), eight rows (1024 bytes) per core group.

#if ACT == DT_F16
#define WGMMA_TYPE "f16"
#else
#define WGMMA_TYPE "bf16"
#endif

static_assert(BK == 64 && BM == 64 * WM, "wgmma tile shape");

constexpr int THREADS = WM * 128;
constexpr int ROW_BYTES = 128;
constexpr int A_BYTES = BM * ROW_BYTES;
constexpr int STAGE_BYTES = (BM + BN) * ROW_BYTES;
// The output tile in f32 rows padded by 8 floats (conflict-free 8-byte
// writes of the accumulator pairs), inside the stages' memory.
constexpr int C_LD = BN + 8;
static_assert(BM * C_LD * 4 <= STAGES * STAGE_BYTES, "output tile fits the stages");

// Pins the accumulators in their registers around an asynchronous mma
// batch, so that no copy of them is read while the batch runs.
__device__ __forceinline__ void fence_accumulators(float (&acc)[BN / 2]) {
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) asm volatile("" : "+f"(acc[i])::"memory");
}

// A shared-memory matrix descriptor: start address, stride between 8-row
// core groups (1024 bytes), 128-byte swizzle. The leading offset is unused
// for a swizzled K-major tile one atom wide.
__device__ __forceinline__ u64 descriptor(u32 address) {
    return (u64)((address & 0x3ffff) >> 4) | ((u64)1 << 16) | ((u64)(1024 >> 4) << 32) |
           ((u64)1 << 62);
}

#if BN == 64
__device__ __forceinline__ void wgmma_step(float (&d)[BN / 2], u64 desc_a, u64 desc_b) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32." WGMMA_TYPE "." WGMMA_TYPE " "
        "{"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
        "}, %32, %33, p, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "l"(desc_a), "l"(desc_b), "r"(1));
}
#endif
#if BN == 128
__device__ __forceinline__ void wgmma_step(float (&d)[BN / 2], u64 desc_a, u64 desc_b) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32." WGMMA_TYPE "." WGMMA_TYPE " "
        "{"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
        "}, %64, %65, p, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(desc_a), "l"(desc_b), "r"(1));
}
#endif
#if BN == 256
__device__ __forceinline__ void wgmma_step(float (&d)[BN / 2], u64 desc_a, u64 desc_b) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32." WGMMA_TYPE "." WGMMA_TYPE " "
        "{"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
        "}, %128, %129, p, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
          "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
          "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
          "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
          "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
          "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
          "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
          "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
          "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(desc_a), "l"(desc_b), "r"(1));
}
#endif

// ROWS rows of 64 k-values from (row0, k0) into the swizzled layout at
// `dst`, zeros past row_end and k_end.
template <int ROWS, bool CHECK_ROWS>
__device__ __forceinline__ void load_rows(u32 dst, const act_t *src, u32 ld, u32 row0, u32 k0,
                                          u32 row_end, u32 k_end) {
    constexpr int CHUNKS = ROWS * 8;
#pragma unroll
    for (int i = 0; i < (CHUNKS + THREADS - 1) / THREADS; ++i) {
        int chunk = threadIdx.x + i * THREADS;
        if (CHUNKS % THREADS != 0 && chunk >= CHUNKS) break;
        int r = chunk >> 3, c = chunk & 7;
        u32 gr = row0 + r, gk = k0 + c * 8;
        u32 bytes = 16;
        if (CHECK_ROWS && gr >= row_end) bytes = 0;
        if (!ALIGN_K && bytes) {
            u32 left = gk < k_end ? k_end - gk : 0;
            bytes = left >= 8 ? 16 : left * 2;
        }
        const act_t *g = bytes ? src + (u64)gr * ld + gk : src;
        cp_async16(dst + r * ROW_BYTES + ((c ^ (r & 7)) << 4), g, bytes);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
    KERNEL_NAME(aux_t *c, const act_t *a, const act_t *b, float *partial, u32 m, u32 n, u32 k,
                u32 lda, u32 ldb, u32 ldc, u32 k_chunk, u32 splits, u32 batch_inner, u64 a_si,
                u64 a_so, u64 b_si, u64 b_so, u64 c_si, u64 c_so, float alpha, float beta) {
    extern __shared__ __align__(16) u8 smem_raw[];
    // The swizzle pattern follows address bits 7-9: tiles start 1024-aligned.
    u32 base = (shared_address(smem_raw) + 1023) & ~1023u;
    Slice s = slice_of(a, b, c, partial, m, n, k, k_chunk, splits, batch_inner, a_si, a_so, b_si,
                       b_so, c_si, c_so);
    u32 m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    int warpgroup = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;

    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;

    constexpr int AHEAD = STAGES - 1;
    int tiles = (int)((s.k_end - s.k_begin + BK - 1) / BK);
#pragma unroll
    for (int t = 0; t < AHEAD; ++t) {
        if (t < tiles) {
            u32 stage = base + t * STAGE_BYTES;
            u32 k0 = s.k_begin + t * BK;
            load_rows<BM, !ALIGN_M>(stage, s.a, lda, m0, k0, m, s.k_end);
            load_rows<BN, !ALIGN_N>(stage + A_BYTES, s.b, ldb, n0, k0, n, s.k_end);
        }
        cp_async_commit();
    }
    for (int t = 0; t < tiles; ++t) {
        cp_async_wait<AHEAD - 1>();
        // cp.async wrote through the generic proxy; wgmma reads through the
        // async proxy.
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();
        // Stage (t + AHEAD) % STAGES last fed the mma batch of tile t - 1,
        // which every warpgroup finished before this barrier.
        int next = t + AHEAD;
        if (next < tiles) {
            u32 stage = base + (next % STAGES) * STAGE_BYTES;
            u32 k0 = s.k_begin + next * BK;
            load_rows<BM, !ALIGN_M>(stage, s.a, lda, m0, k0, m, s.k_end);
            load_rows<BN, !ALIGN_N>(stage + A_BYTES, s.b, ldb, n0, k0, n, s.k_end);
        }
        cp_async_commit();
        u32 stage = base + (t % STAGES) * STAGE_BYTES;
        u64 desc_a = descriptor(stage + warpgroup * 64 * ROW_BYTES);
        u64 desc_b = descriptor(stage + A_BYTES);
        fence_accumulators(acc);
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int step = 0; step < BK / 16; ++step) {
            // 16 k-values are 32 bytes: 2 in the descriptor's 16-byte units.
            wgmma_step(acc, desc_a + 2 * step, desc_b + 2 * step);
        }
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        // Waiting here frees the stage for the copy issued after the next
        // barrier; leaving the batch in flight instead makes ptxas
        // serialize the wgmmas (C7514), which costs more.
        asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
        fence_accumulators(acc);
    }
    cp_async_wait<0>();

    // The tile leaves through shared memory, so that each warp then writes
    // whole row segments (a warp's accumulators span eight rows). The stages
    // are free once every warpgroup has passed its last batch.
    __syncthreads();
    float *tile = (float *)(smem_raw + (base - shared_address(smem_raw)));
    // Accumulators: per 8 columns j, (row, 2 columns) then 8 rows down; warp
    // w of the warpgroup holds rows 16w..16w+15 of its 64.
    int row0 = warpgroup * 64 + warp * 16 + (lane >> 2);
#pragma unroll
    for (int j = 0; j < BN / 8; ++j)
#pragma unroll
        for (int h = 0; h < 2; ++h)
            *(float2 *)&tile[(row0 + h * 8) * C_LD + j * 8 + (lane & 3) * 2] =
                make_float2(acc[j * 4 + h * 2], acc[j * 4 + h * 2 + 1]);
    __syncthreads();
    for (int i = threadIdx.x; i < BM * BN; i += THREADS) {
        int r = i / BN, cc = i % BN;
        u32 row = m0 + r, col = n0 + cc;
        if ((!ALIGN_M && row >= m) || (!ALIGN_N && col >= n)) continue;
        store_result(s, row, col, n, ldc, tile[r * C_LD + cc], alpha, beta);
    }
}
