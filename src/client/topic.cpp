#include <zcp/topic.hpp>

namespace zcp {

Result<Topic> Topic::parse(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Unexpected(Error{Errc::kInvalidArgument, 0,
                            "topic '" + std::string(text) + "': " + why +
                                "; expected SERVICE/INSTANCE/EVENT, three non-empty parts"});
  };
  const auto a = text.find('/');
  if (a == std::string_view::npos) return bad("no '/'");
  const auto b = text.find('/', a + 1);
  if (b == std::string_view::npos) return bad("only two parts");
  if (text.find('/', b + 1) != std::string_view::npos) return bad("more than three parts");
  Topic t{std::string(text.substr(0, a)), std::string(text.substr(a + 1, b - a - 1)),
          std::string(text.substr(b + 1))};
  if (t.service.empty() || t.instance.empty() || t.event.empty()) return bad("an empty part");
  return t;
}

}  // namespace zcp
