"""What the machine offers: CPU features, the llama.cpp build, and the `semcse doctor` checks."""
