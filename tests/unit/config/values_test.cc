// The value parsers of config/values.h on their own. Goal: every accepted form gives the right
// value and every refused one says why; formatting reads back. Method: tables of inputs.
#include "config/values.h"

#include <gtest/gtest.h>

namespace vr::config {
namespace {

TEST(Values, AddressesParseWithDefaultPorts) {
    struct Case {
        const char* text;
        Address expected;
    };
    const Case cases[] = {
        {"127.0.0.1:1105", {"127.0.0.1", 1105}},
        {"127.0.0.1", {"127.0.0.1", kDefaultPort}},
        {"[::1]:7", {"::1", 7}},
        {"[fe80::1]", {"fe80::1", kDefaultPort}},
        {"node-2.lan:65535", {"node-2.lan", 65535}},
        {"localhost", {"localhost", kDefaultPort}},
    };
    for (const Case& c : cases) {
        Result<Address> r = parse_address(c.text, kDefaultPort);
        ASSERT_TRUE(r.is_ok()) << c.text << ": " << r.status().to_string();
        EXPECT_EQ(r.value(), c.expected) << c.text;
        Result<Address> back = parse_address(format_address(r.value()), 1);
        ASSERT_TRUE(back.is_ok()) << format_address(r.value());
        EXPECT_EQ(back.value(), c.expected) << "format_address reads back";
    }
}

TEST(Values, BadAddressesSayWhy) {
    struct Case {
        const char* text;
        const char* message;
    };
    const Case cases[] = {
        {"", R"("" is not host:port (empty))"},
        {":1104", R"(":1104" is not host:port (empty host))"},
        {"host:0", R"("host:0" is not host:port (port must be 1-65535))"},
        {"host:", R"("host:" is not host:port (port must be 1-65535))"},
        {"host:12ab", R"("host:12ab" is not host:port (port must be 1-65535))"},
        {"host:001104x", R"("host:001104x" is not host:port (port must be 1-65535))"},
        {"1.2.3", R"("1.2.3" is not host:port (1.2.3 is not an IPv4 address))"},
        {"bad_host",
         R"("bad_host" is not host:port (bad_host is not an IPv4 address or a host name))"},
        {"-x.lan", R"("-x.lan" is not host:port (-x.lan is not an IPv4 address or a host name))"},
        {"[::1", R"("[::1" is not host:port (missing ] after the IPv6 address))"},
        {"[::1]1104", R"("[::1]1104" is not host:port (expected :port after ]))"},
        {"[1.2.3.4]:1", R"("[1.2.3.4]:1" is not host:port (1.2.3.4 is not an IPv6 address))"},
        {"fe80::1",
         R"("fe80::1" is not host:port (an IPv6 address needs brackets, as in [::1]:1104))"},
    };
    for (const Case& c : cases) {
        Result<Address> r = parse_address(c.text, kDefaultPort);
        ASSERT_FALSE(r.is_ok()) << c.text;
        EXPECT_EQ(r.status().code(), Code::InvalidArgument);
        EXPECT_EQ(r.status().context(), c.message);
    }
}

TEST(Values, LoopbackAndWildcard) {
    EXPECT_TRUE(is_loopback({"127.0.0.1", 1}));
    EXPECT_TRUE(is_loopback({"127.9.9.9", 1}));
    EXPECT_TRUE(is_loopback({"::1", 1}));
    EXPECT_TRUE(is_loopback({"localhost", 1}));
    EXPECT_FALSE(is_loopback({"10.0.0.1", 1}));
    EXPECT_FALSE(is_loopback({"::", 1}));
    EXPECT_TRUE(is_wildcard({"0.0.0.0", 1}));
    EXPECT_TRUE(is_wildcard({"::", 1}));
    EXPECT_FALSE(is_wildcard({"127.0.0.1", 1}));
}

TEST(Values, SizesParseAndFormat) {
    EXPECT_EQ(parse_size("0").value(), 0u);
    EXPECT_EQ(parse_size("4096").value(), 4096u);
    EXPECT_EQ(parse_size("10B").value(), 10u);
    EXPECT_EQ(parse_size("4KiB").value(), 4096u);
    EXPECT_EQ(parse_size("256MiB").value(), 256u << 20);
    EXPECT_EQ(parse_size("256 MiB").value(), 256u << 20);
    EXPECT_EQ(parse_size("3GiB").value(), uint64_t{3} << 30);
    EXPECT_EQ(parse_size("1TiB").value(), uint64_t{1} << 40);
    for (const char* bad : {"", "MiB", "1.5GiB", "12MB", "12mib", "12  MiB", "-1", "12 ", "0x10"}) {
        Result<uint64_t> r = parse_size(bad);
        ASSERT_FALSE(r.is_ok()) << bad;
        EXPECT_NE(r.status().context().find("is not a size"), std::string::npos) << bad;
    }
    EXPECT_EQ(parse_size("18446744073709551616").status().context(),
              R"("18446744073709551616" is too large)");
    EXPECT_EQ(parse_size("16777216TiB").status().context(), R"("16777216TiB" is too large)");
    EXPECT_EQ(format_size(uint64_t{256} << 20), "256MiB");
    EXPECT_EQ(format_size(uint64_t{1} << 40), "1TiB");
    EXPECT_EQ(format_size(12288 + (1u << 20)), "1036KiB");
    EXPECT_EQ(format_size(100), "100B");
    EXPECT_EQ(format_size(0), "0B");
}

TEST(Values, NamesAndPaths) {
    EXPECT_TRUE(check_name("n1").is_ok());
    EXPECT_TRUE(check_name("A.b_c-9").is_ok());
    EXPECT_TRUE(check_name(std::string(kNameBytesMax, 'x')).is_ok());
    EXPECT_FALSE(check_name(std::string(kNameBytesMax + 1, 'x')).is_ok());
    EXPECT_FALSE(check_name("").is_ok());
    EXPECT_FALSE(check_name("a/b").is_ok());
    EXPECT_FALSE(check_name("é").is_ok());
    EXPECT_FALSE(check_name(".").is_ok());
    EXPECT_TRUE(check_name("...").is_ok());

    EXPECT_TRUE(check_absolute_path("/").is_ok());
    EXPECT_FALSE(check_absolute_path("").is_ok());
    EXPECT_FALSE(check_absolute_path("./x").is_ok());
    EXPECT_EQ(check_absolute_path(std::string_view("/a\0b", 4)).context(),
              R"("/a\u0000b" contains a NUL byte)");
    EXPECT_FALSE(check_absolute_path("/" + std::string(kPathBytesMax, 'x')).is_ok());

    EXPECT_TRUE(is_within("/a/b", "/a"));
    EXPECT_TRUE(is_within("/a", "/a"));
    EXPECT_TRUE(is_within("/a", "/"));
    EXPECT_FALSE(is_within("/ab", "/a"));
    EXPECT_FALSE(is_within("/a", "/a/b"));
}

TEST(Values, QuoteEscapesLikeToml) {
    EXPECT_EQ(quote("plain"), R"("plain")");
    EXPECT_EQ(quote("a\"b\\c\nd\te\x01"), R"("a\"b\\c\nd\te\u0001")");
}

}  // namespace
}  // namespace vr::config
