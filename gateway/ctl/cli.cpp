#include "gateway/ctl/cli.hpp"

#include <algorithm>
#include <ostream>

#include "gateway/core/config/loader.hpp"
#include "gateway/core/control/client.hpp"
#include "gateway/ctl/commands.hpp"
#include "gateway/ctl/commands_dkim.hpp"
#include "gateway/ctl/commands_events.hpp"
#include "gateway/ctl/commands_firewall.hpp"
#include "gateway/ctl/commands_monitor.hpp"
#include "gateway/ctl/commands_policy.hpp"

namespace portcullis::ctl {
namespace {

// Every command: commands.cpp's and each area's commands_<area>.cpp table.
const std::vector<CommandSpec>& all_commands() {
  static const std::vector<CommandSpec> kAll = [] {
    std::vector<CommandSpec> all = commands();
    for (const auto* area : {&monitor_commands(), &dkim_commands(), &events_commands(),
                             &firewall_commands(), &policy_commands()}) {
      all.insert(all.end(), area->begin(), area->end());
    }
    return all;
  }();
  return kAll;
}

struct GlobalOptions {
  std::optional<std::string> socket;
  std::optional<std::string> config;
  bool json = false;
  bool help = false;
};

void print_general_help(std::ostream& out) {
  out << "usage: portcullisctl [--socket PATH] [--config FILE] [--json] <command> [args]\n"
         "\n"
         "Administers a running portcullisd through its control socket (default "
      << kDefaultSocket
      << ",\nor node.control_socket of --config FILE).\n"
         "\n"
         "commands:\n";
  for (const auto& c : all_commands()) {
    out << "  " << usage_line(c) << "\n      " << c.summary << '\n';
  }
  out << "\n'portcullisctl <command> --help' describes a command's options.\n";
}

// "--name=value" → name and value.
std::pair<std::string, std::optional<std::string>> split_option(const std::string& arg) {
  if (auto eq = arg.find('='); eq != std::string::npos) {
    return {arg.substr(0, eq), arg.substr(eq + 1)};
  }
  return {arg, std::nullopt};
}

Result<std::string> socket_from_config(const std::string& file) {
  auto loaded = config::load_config(file);
  if (!loaded.ok()) {
    std::string message =
        loaded.errors.empty() ? file + ": cannot be loaded" : loaded.errors.front().to_string();
    if (loaded.errors.size() > 1) {
      message += " (and " + std::to_string(loaded.errors.size() - 1) + " more errors)";
    }
    return make_error(std::move(message));
  }
  return Result<std::string>(boost::system::in_place_value,
                             loaded.config->node.control_socket.string());
}

}  // namespace

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = options.find(name);
  if (it == options.end() || it->second.empty()) {
    return std::nullopt;
  }
  return it->second.back();
}

const std::vector<std::string>& Args::all(const std::string& name) const {
  static const std::vector<std::string> kNone;
  auto it = options.find(name);
  return it == options.end() ? kNone : it->second;
}

std::string usage_line(const CommandSpec& spec) {
  std::string line;
  for (const auto& w : spec.words) {
    line += (line.empty() ? "" : " ") + w;
  }
  for (const auto& p : spec.positionals) {
    line += " " + p;
  }
  for (const auto& o : spec.options) {
    line += " [" + o.name + (o.value_name.empty() ? "" : " " + o.value_name) + "]";
    if (o.repeatable) {
      line += "...";
    }
  }
  return line;
}

void print_command_help(std::ostream& out, const CommandSpec& spec) {
  out << "usage: portcullisctl [--socket PATH] [--config FILE] [--json] " << usage_line(spec)
      << "\n\n"
      << spec.summary << '\n';
  if (spec.options.empty()) {
    return;
  }
  out << "\noptions:\n";
  std::size_t width = 0;
  for (const auto& o : spec.options) {
    width = std::max(width, o.name.size() + 1 + o.value_name.size());
  }
  for (const auto& o : spec.options) {
    std::string name = o.name + (o.value_name.empty() ? "" : " " + o.value_name);
    out << "  " << name << std::string(width - name.size() + 2, ' ') << o.help
        << (o.repeatable ? " (repeatable)" : "") << '\n';
  }
}

std::optional<Args> parse_args(const CommandSpec& spec,
                               const std::vector<std::string>& argv,
                               UsageError& error) {
  Args args;
  bool only_positionals = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const auto& arg = argv[i];
    if (only_positionals || !arg.starts_with("--")) {
      args.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    auto [name, inline_value] = split_option(arg);
    const OptionSpec* option = nullptr;
    for (const auto& o : spec.options) {
      if (o.name == name) {
        option = &o;
      }
    }
    if (option == nullptr) {
      error.message = "unknown option '" + name + "'";
      return std::nullopt;
    }
    std::string value;
    if (option->value_name.empty()) {
      if (inline_value) {
        error.message = "option '" + name + "' takes no value";
        return std::nullopt;
      }
    } else if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      error.message = "option '" + name + "' needs a value (" + option->value_name + ")";
      return std::nullopt;
    }
    auto& values = args.options[name];
    if (!values.empty() && !option->repeatable) {
      error.message = "option '" + name + "' given more than once";
      return std::nullopt;
    }
    values.push_back(std::move(value));
  }
  // A positional written "[ID]" is optional; optional ones come last.
  const auto required = static_cast<std::size_t>(
      std::count_if(spec.positionals.begin(), spec.positionals.end(),
                    [](const std::string& p) { return !p.starts_with('['); }));
  if (args.positionals.size() < required || args.positionals.size() > spec.positionals.size()) {
    if (args.positionals.size() < required) {
      error.message = "missing " + spec.positionals[args.positionals.size()];
    } else {
      error.message = "unexpected argument '" + args.positionals[spec.positionals.size()] + "'";
    }
    return std::nullopt;
  }
  return args;
}

int run(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  GlobalOptions global;
  std::vector<std::string> rest;
  bool passthrough = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const auto& arg = argv[i];
    if (passthrough) {
      rest.push_back(arg);
      continue;
    }
    auto [name, inline_value] = split_option(arg);
    if (name == "--socket" || name == "--config") {
      std::string value;
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < argv.size()) {
        value = argv[++i];
      } else {
        err << "portcullisctl: option '" << name << "' needs a value\n";
        return 2;
      }
      (name == "--socket" ? global.socket : global.config) = value;
    } else if (arg == "--json") {
      global.json = true;
    } else if (arg == "--help" || arg == "-h") {
      global.help = true;
    } else {
      if (arg == "--") {
        passthrough = true;
      }
      rest.push_back(arg);
    }
  }

  const CommandSpec* spec = nullptr;
  for (const auto& c : all_commands()) {
    if (rest.size() >= c.words.size() && std::equal(c.words.begin(), c.words.end(), rest.begin())) {
      spec = &c;
    }
  }
  if (spec == nullptr) {
    if (global.help && (rest.empty() || rest.size() == 1)) {
      print_general_help(out);
      return 0;
    }
    std::string subcommands;
    for (const auto& c : all_commands()) {
      if (!rest.empty() && c.words.size() > 1 && c.words.front() == rest.front()) {
        subcommands += (subcommands.empty() ? "" : ", ") + c.words[1];
      }
    }
    if (rest.empty()) {
      err << "portcullisctl: no command given\n";
    } else if (!subcommands.empty() && (rest.size() == 1 || rest[1].starts_with("-"))) {
      err << "portcullisctl: '" << rest.front() << "' needs one of: " << subcommands << '\n';
    } else {
      err << "portcullisctl: unknown command '" << rest.front()
          << (rest.size() > 1 && !rest[1].starts_with("-") ? " " + rest[1] : "") << "'\n";
    }
    err << "run 'portcullisctl --help' for the list of commands\n";
    return 2;
  }
  if (global.help) {
    print_command_help(out, *spec);
    return 0;
  }

  UsageError usage;
  auto args =
      parse_args(*spec,
                 std::vector<std::string>(
                     rest.begin() + static_cast<std::ptrdiff_t>(spec->words.size()), rest.end()),
                 usage);
  if (!args) {
    err << "portcullisctl: " << usage.message << "\nusage: portcullisctl " << usage_line(*spec)
        << '\n';
    return 2;
  }

  std::string socket = kDefaultSocket;
  if (global.socket) {
    socket = *global.socket;
  } else if (global.config) {
    auto from_config = socket_from_config(*global.config);
    if (!from_config) {
      err << "portcullisctl: " << from_config.error().message << '\n';
      return 1;
    }
    socket = *from_config;
  }

  control::ControlClient client(socket);
  CommandContext context{client, global.json, out};
  if (auto result = spec->run(context, *args); !result) {
    out.flush();
    err << "portcullisctl: " << result.error().message << '\n';
    return 1;
  }
  return 0;
}

}  // namespace portcullis::ctl
