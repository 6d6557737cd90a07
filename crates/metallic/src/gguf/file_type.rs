//! `general.file_type`: llama.cpp's number for how a file was quantized
//! (`llama_ftype`), and its name as llama.cpp's tools print it.

/// The metadata key holding the file type.
pub const FILE_TYPE_KEY: &str = "general.file_type";

/// The name of file type `id` (`15` → `Q4_K_M`), or `None` for a number
/// llama.cpp does not define (or no longer does).
pub fn file_type_name(id: u64) -> Option<&'static str> {
    Some(match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers_have_llama_cpp_names_and_others_none() {
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(7), Some("Q8_0"));
        assert_eq!(file_type_name(32), Some("BF16"));
        // 4-6 were removed from llama.cpp (Q4_1 with F16, Q4_2, Q4_3).
        for gone in [4, 5, 6, 33, 1000] {
            assert_eq!(file_type_name(gone), None, "{gone}");
        }
    }
}
