#pragma once
// Errors as values: a Result<T> holds a T or an Error a person can act on.

#include <boost/system/result.hpp>
#include <stdexcept>
#include <string>
#include <utility>

namespace portcullis {

struct Error {
  std::string message;
};

// Called by Result<T>::value() on an error; only ever reached by a bug or at start-up.
[[noreturn]] inline void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

template <class T>
using Result = boost::system::result<T, Error>;

inline Error make_error(std::string message) {
  return Error{std::move(message)};
}

}  // namespace portcullis
