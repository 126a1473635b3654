#pragma once
// portcullisctl's command line: global options, the command table and the
// parser for each command's positionals and options. Input: the operator's
// argv; mistakes are usage errors (exit 2) with the command's usage line.

#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gateway/core/result.hpp"

namespace portcullis::control {
class ControlClient;
}

namespace portcullis::ctl {

inline constexpr const char* kDefaultSocket = "/run/portcullis/control.sock";

struct OptionSpec {
  std::string name;         // "--plan"
  std::string value_name;   // "P"; empty for a flag
  bool repeatable = false;  // "--subnet CIDR" may be given several times
  std::string help;
};

struct Args {
  std::vector<std::string> positionals;
  std::map<std::string, std::vector<std::string>> options;  // flags map to {""}

  bool has(const std::string& name) const { return options.contains(name); }
  // The last value given for a single-valued option.
  std::optional<std::string> get(const std::string& name) const;
  const std::vector<std::string>& all(const std::string& name) const;
};

struct CommandContext {
  control::ControlClient& client;
  bool json = false;
  std::ostream& out;
};

struct CommandSpec {
  std::vector<std::string> words;        // {"tenant", "add"}
  std::vector<std::string> positionals;  // {"ID"}
  std::vector<OptionSpec> options;
  std::string summary;
  std::function<Result<void>(CommandContext&, const Args&)> run;
};

struct UsageError {
  std::string message;
};

// Parses argv after the command words; wrong counts and unknown options are
// usage errors.
std::optional<Args> parse_args(const CommandSpec& spec,
                               const std::vector<std::string>& argv,
                               UsageError& error);

std::string usage_line(const CommandSpec& spec);
void print_command_help(std::ostream& out, const CommandSpec& spec);

// The whole program: returns the exit status (0, 1 for errors, 2 for usage).
int run(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

}  // namespace portcullis::ctl
