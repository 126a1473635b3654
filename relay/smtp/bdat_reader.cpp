#include "relay/smtp/bdat_reader.hpp"

namespace portcullis::relay::smtp {

BdatReader::BdatReader(std::size_t max_message_size, std::size_t max_text_line)
    : checker_(max_message_size, max_text_line) {}

}  // namespace portcullis::relay::smtp
