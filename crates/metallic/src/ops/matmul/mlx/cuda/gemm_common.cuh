// Shared by the mlx GEMM kernels (gemm_ffma.cu, gemm_mma.cu, gemm_wgmma.cu),
// placed before each of them: shared-memory addresses, asynchronous copies
// into shared memory, where a block's matrices start (batch and split-K slice
// from grid z), and the epilogue that stores one result.
//
// Flags read here: HAS_BATCH, SPLIT_K, USE_OUT_SOURCE, DO_AXPBY (gemm_key.rs).

__device__ __forceinline__ u32 shared_address(const void *p) {
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// Copies `bytes` (0..16) from global to shared memory and zero-fills the rest
// of the 16 bytes; both addresses 16-byte aligned.
__device__ __forceinline__ void cp_async16(u32 dst, const void *src, u32 bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}

// 4 bytes (or zeros when bytes == 0).
__device__ __forceinline__ void cp_async4(u32 dst, const void *src, u32 bytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }

template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

// Where this block's matrices start: batch and split-K slice from grid z.
struct Slice {
    const act_t *a;
    const act_t *b;
    aux_t *c;
    float *partial;
    u32 k_begin, k_end;
};

__device__ __forceinline__ Slice slice_of(const act_t *a, const act_t *b, aux_t *c, float *partial,
                                          u32 m, u32 n, u32 k, u32 k_chunk, u32 splits,
                                          u32 batch_inner, u64 a_si, u64 a_so, u64 b_si, u64 b_so,
                                          u64 c_si, u64 c_so) {
    u32 z = blockIdx.z;
    u32 split = z % splits;
    Slice s;
#if HAS_BATCH
    u32 batch = z / splits;
    u64 bi = batch % batch_inner, bo = batch / batch_inner;
    s.a = a + bi * a_si + bo * a_so;
    s.b = b + bi * b_si + bo * b_so;
    s.c = c + bi * c_si + bo * c_so;
#else
    s.a = a;
    s.b = b;
    s.c = c;
#endif
    // Split-K partial sums: one dense m×n f32 matrix per (batch, split).
    s.partial = partial + (u64)z * m * n;
    s.k_begin = split * k_chunk;
    s.k_end = min(k, s.k_begin + k_chunk);
    return s;
}

// Stores one result: alpha·acc + beta·C (as the flags say), or the raw sum
// into the split-K workspace.
__device__ __forceinline__ void store_result(const Slice &s, u32 row, u32 col, u32 n, u32 ldc,
                                             float acc, float alpha, float beta) {
#if SPLIT_K
    s.partial[(u64)row * n + col] = acc;
#else
    aux_t *out = s.c + (u64)row * ldc + col;
    float v = acc;
#if DO_AXPBY
    v *= alpha;
#if USE_OUT_SOURCE
    v += beta * to_f32(*out);
#endif
#elif USE_OUT_SOURCE
    v += to_f32(*out);
#endif
    store_f32(out, v);
#endif
}
