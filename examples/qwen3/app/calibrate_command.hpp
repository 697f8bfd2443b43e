// Entry points of the TailorKV subcommands `kvc-qwen3 calibrate` and `kvc-qwen3 channel-agreement`.
#pragma once

namespace kvc::qwen3 {

/// `kvc-qwen3 calibrate`: scores every layer's dense preference on one prompt and writes a
/// TailorKV plan file. argv[0] = "calibrate"; returns the process exit code.
int calibrate_main(int argc, char** argv);

/// `kvc-qwen3 channel-agreement`: how often next-layer query prediction picks the true dominant
/// channels. argv[0] = "channel-agreement"; returns the process exit code.
int channel_agreement_main(int argc, char** argv);

}  // namespace kvc::qwen3
