// Entry point of the `kvc-qwen3 search-plan` subcommand (registered in main.cpp).
#pragma once

namespace kvc::qwen3 {

/// `kvc-qwen3 search-plan`: per-layer sensitivities on a calibration text, then the plan of
/// least predicted KL under a device-byte budget, written as a plan file. argv[0] =
/// "search-plan"; returns the process exit code.
int search_plan_main(int argc, char** argv);

}  // namespace kvc::qwen3
