// Causal grouped-query attention against a KV cache for few query tokens
// (decode), split over the cache length (flash-decoding). Query token t sits
// at position positions[t] (device memory) and attends to cache positions
// 0..=positions[t]; query head h reads KV head h / (heads / kv_heads).
//
// A cluster of SPLITS blocks takes one (query head, query token): warp w of
// block b walks keys b * WARPS + w, then every SPLITS * WARPS-th key, GROUP
// keys at a time (their loads in flight together), with an online softmax
// (running max, running sum, running P·V: PARAM / 32 values per lane). The
// warps merge in shared memory, then the blocks through distributed shared
// memory (Hopper clusters): no workspace and no second launch, so a decode
// step stays one graph of fixed kernels. One block per head (the kernel this
// replaces) used 14 of 132 SMs and spent 3 ms of a 5 ms step after 2048 tokens.
// PARAM is the head size (a multiple of 32, at most 256).

#define HEAD_DIM PARAM
#define PER_LANE (HEAD_DIM / 32)
#define WARPS 16
#define SPLITS 8
#define GROUP 4

__device__ __forceinline__ u32 cluster_rank() {
    u32 rank;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(rank));
    return rank;
}

// Every thread of the cluster arrives; shared-memory writes before it are
// visible to every block after it.
__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release;\n\t"
                 "barrier.cluster.wait.acquire;" ::: "memory");
}

// The float at `p`'s place in block `rank`'s shared memory.
__device__ __forceinline__ float load_from_block(const float *p, u32 rank) {
    u32 local, remote;
    float value;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(local) : "l"(p));
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(local), "r"(rank));
    asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(value) : "r"(remote) : "memory");
    return value;
}

// exp(x - m) as a merge weight; a part that saw no key (x = -inf) weighs 0.
__device__ __forceinline__ float weight(float x, float m) {
    return x == NEG_INFINITY ? 0.0f : expf(x - m);
}

extern "C" __global__ void __cluster_dims__(1, 1, SPLITS) __launch_bounds__(WARPS * 32)
attention_split_kv(act_t *out, const act_t *q, const aux_t *k, const aux_t *v, u32 heads,
                   u32 kv_heads, const u32 *positions, u32 q_token_stride, u32 q_head_stride,
                   u32 kv_pos_stride, u32 kv_head_stride, u32 out_token_stride,
                   u32 out_head_stride, float scale) {
    __shared__ float warp_max[WARPS], warp_sum[WARPS];
    __shared__ float warp_acc[WARPS][HEAD_DIM];
    __shared__ float block_max, block_sum;
    __shared__ float block_acc[HEAD_DIM];
    u32 h = blockIdx.x, t = blockIdx.y, split = cluster_rank();
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
    const u32 stride = SPLITS * WARPS;
    for (u32 first = split * WARPS + warp; first <= last; first += GROUP * stride) {
        // GROUP keys' loads first; keys past `last` (never written: may hold
        // anything) are not read and weigh 0.
        float s[GROUP], vr[GROUP][PER_LANE];
#pragma unroll
        for (int g = 0; g < GROUP; ++g) {
            u32 j = first + g * stride;
            bool live = j <= last;
            const aux_t *kj = kp + (u64)j * kv_pos_stride;
            const aux_t *vj = vp + (u64)j * kv_pos_stride;
            s[g] = 0.0f;
#pragma unroll
            for (int e = 0; e < PER_LANE; ++e) {
                s[g] += live ? qr[e] * to_f32(kj[lane + 32 * e]) : 0.0f;
                vr[g][e] = live ? to_f32(vj[lane + 32 * e]) : 0.0f;
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
#pragma unroll
            for (int g = 0; g < GROUP; ++g) s[g] += __shfl_xor_sync(0xffffffffu, s[g], o);
        }
        float m_new = m;
#pragma unroll
        for (int g = 0; g < GROUP; ++g) {
            if (first + g * stride > last) s[g] = NEG_INFINITY;
            m_new = fmaxf(m_new, s[g]);
        }
        // Key `first` is live, so m_new is finite.
        float keep = weight(m, m_new);
        l *= keep;
#pragma unroll
        for (int e = 0; e < PER_LANE; ++e) acc[e] *= keep;
#pragma unroll
        for (int g = 0; g < GROUP; ++g) {
            float p = weight(s[g], m_new);
            l += p;
#pragma unroll
            for (int e = 0; e < PER_LANE; ++e) acc[e] += p * vr[g][e];
        }
        m = m_new;
    }
    if (lane == 0) {
        warp_max[warp] = m;
        warp_sum[warp] = l;
    }
#pragma unroll
    for (int e = 0; e < PER_LANE; ++e) warp_acc[warp][lane + 32 * e] = acc[e];
    __syncthreads();

    // This block's part, relative to its own maximum (-inf when it saw no key).
    float m_block = NEG_INFINITY;
    for (int w = 0; w < WARPS; ++w) m_block = fmaxf(m_block, warp_max[w]);
    for (u32 d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
        float total = 0.0f;
        for (int w = 0; w < WARPS; ++w) total += warp_acc[w][d] * weight(warp_max[w], m_block);
        block_acc[d] = total;
    }
    if (threadIdx.x == 0) {
        float sum = 0.0f;
        for (int w = 0; w < WARPS; ++w) sum += warp_sum[w] * weight(warp_max[w], m_block);
        block_max = m_block;
        block_sum = sum;
    }
    cluster_sync();

    // Block `split` finishes its share of the head's values from every
    // block's part (block 0 saw key 0, so the maximum is finite).
    const u32 share = HEAD_DIM / SPLITS;
    if (threadIdx.x < share) {
        float parts_max[SPLITS];
        float m_all = NEG_INFINITY;
#pragma unroll
        for (u32 b = 0; b < SPLITS; ++b) {
            parts_max[b] = load_from_block(&block_max, b);
            m_all = fmaxf(m_all, parts_max[b]);
        }
        u32 d = split * share + threadIdx.x;
        float sum = 0.0f, total = 0.0f;
#pragma unroll
        for (u32 b = 0; b < SPLITS; ++b) {
            float w = weight(parts_max[b], m_all);
            sum += load_from_block(&block_sum, b) * w;
            total += load_from_block(&block_acc[d], b) * w;
        }
        act_t *op = out + (u64)t * out_token_stride + (u64)h * out_head_stride;
        store_f32(op + d, total / sum);
    }
    // No block leaves (freeing its shared memory) while another reads it.
    cluster_sync();
}
