// Writes request_validation_fuzzer's seeds from text-format requests.
//   request_seed_gen DIR OUT_DIR SEED...
// reads DIR/SEED.textproto, whose first line names its message
// ("# proto-message: vmm.v1.CreateVmRequest"), and writes OUT_DIR/SEED: the message's index
// in kRequestKinds, then the message serialized.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "tests/fuzz/request_kinds.h"
#include "vmm/v1/vmm.pb.h"

int main(int argc, char** argv) {
  using namespace vmmd::fuzz;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR OUT_DIR SEED...\n", argv[0]);
    return 2;
  }
  // Makes sure vmm.pb.cc is linked in, with its descriptors.
  vmm::v1::CreateVmRequest::descriptor();
  for (int i = 3; i < argc; ++i) {
    const std::string in_path = std::string(argv[1]) + "/" + argv[i] + ".textproto";
    std::ifstream in(in_path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      std::fprintf(stderr, "request_seed_gen: cannot read %s\n", in_path.c_str());
      return 1;
    }
    const std::string content = text.str();
    const std::string marker = "# proto-message: ";
    if (content.compare(0, marker.size(), marker) != 0) {
      std::fprintf(stderr, "request_seed_gen: %s must start with \"%s<message>\"\n",
                   in_path.c_str(), marker.c_str());
      return 1;
    }
    const std::string type = content.substr(marker.size(), content.find('\n') - marker.size());
    size_t kind = kRequestKindCount;
    for (size_t k = 0; k < kRequestKindCount; ++k) {
      if (type == kRequestKinds[k]) kind = k;
    }
    const google::protobuf::Descriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
    if (kind == kRequestKindCount || descriptor == nullptr) {
      std::fprintf(stderr, "request_seed_gen: %s: %s is not a request the fuzzer takes\n",
                   in_path.c_str(), type.c_str());
      return 1;
    }
    std::unique_ptr<google::protobuf::Message> message(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
    if (!google::protobuf::TextFormat::ParseFromString(content, message.get())) {
      std::fprintf(stderr, "request_seed_gen: %s does not parse as %s\n", in_path.c_str(),
                   type.c_str());
      return 1;
    }
    const std::string out_path = std::string(argv[2]) + "/" + argv[i];
    std::ofstream out(out_path, std::ios::binary);
    out.put(static_cast<char>(kind));
    out << message->SerializeAsString();
    if (!out) {
      std::fprintf(stderr, "request_seed_gen: cannot write %s\n", out_path.c_str());
      return 1;
    }
  }
  return 0;
}
