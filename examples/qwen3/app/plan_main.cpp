// kvc-plan: does a model with a cache policy, a context and a batch fit a device; its bytes by what
// they hold, and the largest context and batch that fit. Nothing is loaded or allocated.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/model_memory.hpp"
#include "kvc/core/error.hpp"
#include "kvc/io/resolve_plan.hpp"
#include "kvc/memory_plan.hpp"
#include "kvc_support/text_table.hpp"

namespace {

using kvc::memory_report;
using kvc::memory_request;

struct plan_options {
  std::string model;
  std::vector<std::string> policies{"full:bf16"};
  std::vector<std::size_t> contexts;
  std::vector<std::size_t> batches{1};
  std::vector<std::size_t> devices;  // bytes of one device each
  std::size_t host_memory = 0;       // 0: the host tier is not limited
  int tensor_parallel = 1;
  std::size_t prefill_chunk = 2048;
  std::size_t reserve = 0;
  std::string weight_dtype;  // empty: the model's own
  std::size_t context_limit = std::size_t(1) << 22;
  std::size_t batch_limit = 4096;
  std::string format = "table";
  std::string output;
};

/// One line of the report: a request and what it takes.
struct plan_row {
  std::string policy;  // the spec as given
  std::string kinds;   // the plan's layer kinds, e.g. "quant:0 sparse:1-35"
  std::size_t context = 0, batch = 0;
  memory_report report;
  std::size_t max_context = 0, max_batch = 0;
  std::size_t context_limit = 0, batch_limit = 0;
};

std::string gb(std::size_t bytes) { return kvc::support::fixed(double(bytes) / 1e9, 2); }
std::string largest(std::size_t value, std::size_t limit) {
  return (value >= limit ? ">=" : "") + std::to_string(value);
}

const kvc::support::text_column<plan_row> table_columns[] = {
    {"policy", [](const plan_row& r) { return r.policy + (r.kinds.find(' ') != std::string::npos ? " [" + r.kinds + "]" : ""); }},
    {"context", [](const plan_row& r) { return std::to_string(r.context); }},
    {"batch", [](const plan_row& r) { return std::to_string(r.batch); }},
    {"device GB", [](const plan_row& r) { return gb(r.report.device_memory); }},
    {"weights", [](const plan_row& r) { return gb(r.report.weights); }},
    {"KV device", [](const plan_row& r) { return gb(r.report.kv.held.device_bytes); }},
    {"KV windows", [](const plan_row& r) { return gb(r.report.kv.held.window_bytes); }},
    {"KV metadata", [](const plan_row& r) { return gb(r.report.kv.held.metadata_bytes); }},
    {"scratch", [](const plan_row& r) { return gb(r.report.kv.scratch.device_bytes); }},
    {"activations", [](const plan_row& r) { return gb(r.report.activations); }},
    {"reserve", [](const plan_row& r) { return gb(r.report.reserve); }},
    {"total", [](const plan_row& r) { return gb(r.report.device_total()); }},
    {"fits", [](const plan_row& r) { return std::string(r.report.fits() ? "yes" : "no"); }},
    {"max context", [](const plan_row& r) { return largest(r.max_context, r.context_limit); }},
    {"max batch", [](const plan_row& r) { return largest(r.max_batch, r.batch_limit); }},
    {"KV host", [](const plan_row& r) { return gb(r.report.host_total()); }},
};

nlohmann::json footprint_json(const kvc::memory_footprint& f) {
  return {{"device_bytes", f.device_bytes},
          {"host_bytes", f.host_bytes},
          {"metadata_bytes", f.metadata_bytes},
          {"window_bytes", f.window_bytes}};
}

nlohmann::json row_json(const plan_row& r) {
  const memory_report& m = r.report;
  return {{"policy", r.policy},
          {"layers", r.kinds},
          {"context", r.context},
          {"batch", r.batch},
          {"device_memory", m.device_memory},
          {"host_memory", m.host_memory},
          {"weights", m.weights},
          {"kv_held", footprint_json(m.kv.held)},
          {"kv_scratch", footprint_json(m.kv.scratch)},
          {"activations", m.activations},
          {"reserve", m.reserve},
          {"device_total", m.device_total()},
          {"host_total", m.host_total()},
          {"fits", m.fits()},
          {"max_context", r.max_context},
          {"max_context_at_limit", r.max_context >= r.context_limit},
          {"max_batch", r.max_batch},
          {"max_batch_at_limit", r.max_batch >= r.batch_limit}};
}

int run(const plan_options& o) {
  std::optional<kvc::dtype> weight_type;
  if (!o.weight_dtype.empty()) weight_type = kvc::parse_dtype(o.weight_dtype);
  const kvc::qwen3::model_memory model = kvc::qwen3::read_model_memory(o.model, weight_type);
  memory_request base = kvc::qwen3::model_memory_request(model, o.prefill_chunk);
  base.tensor_parallel = o.tensor_parallel;
  base.reserve_bytes = o.reserve;
  base.host_memory = o.host_memory;

  std::vector<plan_row> rows;
  for (const std::string& spec : o.policies) {
    memory_request r = base;
    r.plan = kvc::io::resolve_plan(spec, model.config.num_layers);
    for (const std::size_t device : o.devices)
      for (const std::size_t batch : o.batches)
        for (const std::size_t context : o.contexts) {
          r.device_memory = device;
          r.context = context;
          r.batch = batch;
          plan_row row{spec, r.plan.kinds(), context, batch, kvc::plan_memory(r), 0, 0, o.context_limit, o.batch_limit};
          row.max_context = kvc::largest_fitting(r, &memory_request::context, o.context_limit);
          row.max_batch = kvc::largest_fitting(r, &memory_request::batch, o.batch_limit);
          rows.push_back(std::move(row));
        }
  }

  std::ofstream file;
  if (!o.output.empty()) {
    file.open(o.output);
    kvc::detail::require(file.good(), "cannot write '", o.output, "'");
  }
  std::ostream& os = o.output.empty() ? std::cout : file;
  const kvc::layer_shape s = model.config.attention_shape();
  if (o.format == "json") {
    nlohmann::json j = {{"model", o.model},
                        {"weight_source", model.weight_source},
                        {"layers", model.config.num_layers},
                        {"q_heads", s.q_heads},
                        {"kv_heads", s.kv_heads},
                        {"head_dim", s.head_dim},
                        {"tensor_parallel", o.tensor_parallel},
                        {"prefill_chunk", o.prefill_chunk},
                        {"rows", nlohmann::json::array()}};
    for (const plan_row& r : rows) j["rows"].push_back(row_json(r));
    os << j.dump(2) << '\n';
  } else {
    os << o.model << ": " << model.config.num_layers << " layers, " << s.q_heads << " query / " << s.kv_heads
       << " KV heads of " << s.head_dim << "; weights " << gb(model.weight_bytes) << " GB (" << model.weight_source
       << ")\nper device, tensor-parallel " << o.tensor_parallel << ", prefill chunk " << o.prefill_chunk
       << " tokens; GB = 1e9 bytes\nKV device: all the cache allocates on the device (pages as allocated, "
          "windows, sinks, codes, scales); KV windows: the sinks and recent/residual windows at full precision "
          "within KV device; KV metadata: the scales, mins, bounds and channel copies within KV "
          "device and KV host; scratch: decode gather buffers; KV host: the host tier (sparse offload)\n\n";
    kvc::support::write_text_table<plan_row>(os, table_columns, rows);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  plan_options o;
  CLI::App app{"kvc-plan: the memory a model, a KV-cache policy, a context and a batch take per device, and "
               "whether they fit"};
  app.add_option("--model", o.model, "checkpoint directory, its config.json, or a .gguf file")->required();
  app.add_option("--policy", o.policies, "policy specs or plan:FILE, one per value (repeatable)")
      ->capture_default_str();
  app.add_option("--context", o.contexts, "tokens per sequence (one or more)")->required()->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batches, "sequences (one or more)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--device-memory", o.devices, "bytes of one device, e.g. 24GiB, 80GB, 81559MiB (one or more)")
      ->required()
      ->transform(CLI::AsSizeValue(true));
  app.add_option("--host-memory", o.host_memory,
                 "host bytes the KV host tier (sparse offload) may take per device (default: unlimited)")
      ->transform(CLI::AsSizeValue(true));
  app.add_option("--tp", o.tensor_parallel, "tensor-parallel degree: the KV heads and weights split across devices")
      ->capture_default_str();
  app.add_option("--prefill-chunk", o.prefill_chunk, "prompt tokens per forward call (sizes the activations)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--reserve", o.reserve, "bytes kept free per device (runtime, fragmentation), e.g. 1GiB")
      ->transform(CLI::AsSizeValue(true));
  app.add_option("--weight-dtype", o.weight_dtype, "count the weights as f32, bf16 or f16 (default: as stored)");
  app.add_option("--context-limit", o.context_limit, "the largest context searched")->capture_default_str();
  app.add_option("--batch-limit", o.batch_limit, "the largest batch searched")->capture_default_str();
  app.add_option("--format", o.format, "table or json")->capture_default_str()->check(CLI::IsMember({"table", "json"}));
  app.add_option("-o,--output", o.output, "write the report to this file (default: stdout)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvc-plan: %s\n", e.what());
    return 1;
  }
}
