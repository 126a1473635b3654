#pragma once
// The one place Asio is included, with the C++20 coroutine pieces the
// data path uses.

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>

namespace portcullis {
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
// Errors as values on the data path: co_await op(asio_nothrow) yields a tuple.
inline constexpr auto asio_nothrow = asio::as_tuple(asio::use_awaitable);
}  // namespace portcullis
