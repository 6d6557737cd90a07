// RMSNorm, one block per row: out = x / sqrt(mean(x^2) + eps) * weight.
extern "C" __global__ void rms_norm(act_t *out, const act_t *x, const aux_t *weight, u32 dim,
                                    u32 x_row_stride, u32 out_row_stride, float eps) {
    const act_t *row = x + (u64)blockIdx.x * x_row_stride;
    act_t *dst = out + (u64)blockIdx.x * out_row_stride;
    float sum = 0.0f;
    for (u32 i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = to_f32(row[i]);
        sum += v * v;
    }
    float scale = rsqrtf(block_sum(sum) / (float)dim + eps);
    for (u32 i = threadIdx.x; i < dim; i += blockDim.x)
        store_f32(dst + i, to_f32(row[i]) * scale * to_f32(weight[i]));
}
