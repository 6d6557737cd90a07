// Dequantization of n values of type AUX (float or quantized blocks) to ACT,
// used once when weights load.
extern "C" __global__ void dequantize(act_t *out, const u8 *src, u64 n) {
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (u64)gridDim.x * blockDim.x)
        store_f32(out + i, aux_value(src, i));
}
