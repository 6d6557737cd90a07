// Greedy sampling: the index of the largest value of each row, the lowest
// index among ties; NaN never wins. One block per row.
extern "C" __global__ void argmax(u32 *out, const act_t *logits, u32 n, u32 row_stride) {
    __shared__ float best_value[1024];
    __shared__ u32 best_index[1024];
    const act_t *row = logits + (u64)blockIdx.x * row_stride;
    float best = NEG_INFINITY;
    u32 index = 0xffffffffu;
    for (u32 i = threadIdx.x; i < n; i += blockDim.x) {
        float v = to_f32(row[i]);
        if (v > best || (index == 0xffffffffu && v == best)) {
            best = v;
            index = i;
        }
    }
    best_value[threadIdx.x] = best;
    best_index[threadIdx.x] = index;
    __syncthreads();
    for (u32 half = blockDim.x / 2; half > 0; half >>= 1) {
        if (threadIdx.x < half) {
            float other = best_value[threadIdx.x + half];
            u32 other_index = best_index[threadIdx.x + half];
            float mine = best_value[threadIdx.x];
            u32 my_index = best_index[threadIdx.x];
            if (other > mine || (other == mine && other_index < my_index)) {
                best_value[threadIdx.x] = other;
                best_index[threadIdx.x] = other_index;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = best_index[0] == 0xffffffffu ? 0 : best_index[0];
}
