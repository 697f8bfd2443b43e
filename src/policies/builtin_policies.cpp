// kvc::policies: the built-in policies' factories compiled once (see kvc/policy/builtin_policies.hpp).
#include "kvc/policy/registry.hpp"
#include "kvc/policy/builtin_policies.hpp"
