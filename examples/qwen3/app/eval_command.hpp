// Entry point of the `kvc-qwen3 eval` subcommand (registered in main.cpp).
#pragma once

namespace kvc::qwen3 {

/// Runs `kvc-qwen3 eval` with argv[0] = "eval"; returns the process exit code.
int eval_main(int argc, char** argv);

}  // namespace kvc::qwen3
