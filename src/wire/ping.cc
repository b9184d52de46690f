#include "wire/ping.h"

#include "wire/codec.h"

namespace vr::wire {

using detail::begin_frame;
using detail::finish_frame;
using detail::Reader;
using detail::Writer;

Status encode_ping(bool pong, uint64_t time_us, std::vector<std::byte>& frame) {
    begin_frame(frame);
    Writer w(frame);
    w.u64(time_us);
    return finish_frame(frame,
                        pong ? FrameType::Pong : FrameType::Ping,
                        /*id=*/0,
                        /*data_len=*/0,
                        /*data_crc=*/0,
                        Limits{});
}

Result<uint64_t> decode_ping(const FrameHeader& header, std::span<const std::byte> body) {
    if (header.type != FrameType::Ping && header.type != FrameType::Pong) {
        return Status(Code::ProtocolError, "not a heartbeat frame");
    }
    VR_TRY(check_body(header, body));
    if (header.id != 0 || header.data_len != 0) {
        return Status(Code::ProtocolError, "heartbeat frame with an id or data");
    }
    Reader r(body, type_name(header.type));
    uint64_t t = r.u64("time");
    VR_TRY(r.finish());
    return t;
}

}  // namespace vr::wire
