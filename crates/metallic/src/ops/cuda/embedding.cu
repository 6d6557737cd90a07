// Embedding lookup: out row r = table row ids[r], decoded from AUX (a float
// or quantized type) to ACT. Rows of the table are row_bytes apart.
extern "C" __global__ void embedding(act_t *out, const u8 *table, const u32 *ids, u32 dim,
                                     u64 row_bytes, u32 out_row_stride) {
    const u8 *row = table + (u64)ids[blockIdx.x] * row_bytes;
    act_t *dst = out + (u64)blockIdx.x * out_row_stride;
    for (u32 i = threadIdx.x; i < dim; i += blockDim.x) store_f32(dst + i, aux_value(row, i));
}
