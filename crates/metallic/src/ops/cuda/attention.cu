// Causal grouped-query attention against a KV cache, one block per (query
// head, query token). Query token t sits at position positions[t] (device
// memory) and attends to cache positions 0..=positions[t]; query head h reads KV
// head h / (heads / kv_heads). Each of the block's warps walks every
// WARPS-th key with an online softmax (running max, running sum, running
// P·V in registers: PARAM / 32 values per lane); the warps merge at the end.
// PARAM is the head size (a multiple of 32, at most 256). 16 warps: a decode
// step has one block per query head (14 for Qwen2.5-0.5B, on 132 SMs), so a
// long context is split 16 ways inside each block (4 warps decoded 247
// tok/s after a 512-token prompt, against 418 from an empty context).

#define HEAD_DIM PARAM
#define PER_LANE (HEAD_DIM / 32)
#define WARPS 16

extern "C" __global__ void __launch_bounds__(WARPS * 32)
attention(act_t *out, const act_t *q, const aux_t *k, const aux_t *v, u32 heads,
          u32 kv_heads, const u32 *positions, u32 q_token_stride, u32 q_head_stride,
          u32 kv_pos_stride, u32 kv_head_stride, u32 out_token_stride, u32 out_head_stride,
          float scale) {
    __shared__ float warp_max[WARPS], warp_sum[WARPS];
    __shared__ float warp_acc[WARPS][HEAD_DIM];
    u32 h = blockIdx.x, t = blockIdx.y;
    u32 warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    u32 kv_head = h / (heads / kv_heads);
    const act_t *qp = q + (u64)t * q_token_stride + (u64)h * q_head_stride;
    const aux_t *kp = k + (u64)kv_head * kv_head_stride;
    const aux_t *vp = v + (u64)kv_head * kv_head_stride;

    float qr[PER_LANE], acc[PER_LANE];
#pragma unroll
    for (int e = 0; e < PER_LANE; ++e) {
        qr[e] = to_f32(qp[lane + 32 * e]) * scale;
        acc[e] = 0.0f;
    }
    float m = NEG_INFINITY, l = 0.0f;
    u32 last = positions[t];
    for (u32 j = warp; j <= last; j += WARPS) {
        const aux_t *kj = kp + (u64)j * kv_pos_stride;
        float s = 0.0f;
#pragma unroll
        for (int e = 0; e < PER_LANE; ++e) s += qr[e] * to_f32(kj[lane + 32 * e]);
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        float m_new = fmaxf(m, s);
        float keep = expf(m - m_new), p = expf(s - m_new);
        l = l * keep + p;
        const aux_t *vj = vp + (u64)j * kv_pos_stride;
#pragma unroll
        for (int e = 0; e < PER_LANE; ++e) acc[e] = acc[e] * keep + p * to_f32(vj[lane + 32 * e]);
        m = m_new;
    }
    if (lane == 0) {
        warp_max[warp] = m;
        warp_sum[warp] = l;
    }
#pragma unroll
    for (int e = 0; e < PER_LANE; ++e) warp_acc[warp][lane + 32 * e] = acc[e];
    __syncthreads();

    float m_all = NEG_INFINITY;
    for (int w = 0; w < WARPS; ++w) m_all = fmaxf(m_all, warp_max[w]);
    float l_all = 0.0f;
    for (int w = 0; w < WARPS; ++w) l_all += warp_sum[w] * expf(warp_max[w] - m_all);
    act_t *op = out + (u64)t * out_token_stride + (u64)h * out_head_stride;
    for (u32 d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
        float total = 0.0f;
        for (int w = 0; w < WARPS; ++w) total += warp_acc[w][d] * expf(warp_max[w] - m_all);
        store_f32(op + d, total / l_all);
    }
}
