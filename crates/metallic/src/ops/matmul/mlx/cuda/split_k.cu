// Split-K reduction: C = alpha · Σ_s partial[s] + beta · C, where the GEMM's
// split slices wrote dense m×n f32 sums, (batch, split)-major. AUX is C's
// dtype; flags HAS_BATCH, USE_OUT_SOURCE (beta ≠ 0: read C), KERNEL_NAME.
// Grid: x covers m·n, y runs over the batch.

extern "C" __global__ void KERNEL_NAME(aux_t *c, const float *partial, u32 m, u32 n, u32 ldc,
                                       u32 splits, u32 batch_inner, u64 c_si, u64 c_so,
                                       float alpha, float beta) {
    u64 mn = (u64)m * n;
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= mn) return;
    u32 batch = blockIdx.y;
#if HAS_BATCH
    c += (u64)(batch % batch_inner) * c_si + (u64)(batch / batch_inner) * c_so;
#endif
    const float *p = partial + (u64)batch * splits * mn + i;
    float sum = 0.0f;
    for (u32 s = 0; s < splits; ++s) sum += p[(u64)s * mn];
    u32 row = (u32)(i / n), col = (u32)(i % n);
    aux_t *out = c + (u64)row * ldc + col;
    float v = alpha * sum;
#if USE_OUT_SOURCE
    v += beta * to_f32(*out);
#endif
    store_f32(out, v);
}
