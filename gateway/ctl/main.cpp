// portcullisctl: the operator's command line for a running portcullisd.

#include <iostream>
#include <string>
#include <vector>

#include "gateway/ctl/cli.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return portcullis::ctl::run(args, std::cout, std::cerr);
}
