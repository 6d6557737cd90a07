pub mod qwen2;
