#include "boot/msrs.h"

namespace vmmd {
namespace {

kvm_msr_entry Msr(uint32_t index, uint64_t data) {
  kvm_msr_entry entry = {};
  entry.index = index;
  entry.data = data;
  return entry;
}

}  // namespace

std::vector<kvm_msr_entry> BootMsrs() {
  return {
      Msr(kMsrIa32SysenterCs, 0),
      Msr(kMsrIa32SysenterEsp, 0),
      Msr(kMsrIa32SysenterEip, 0),
      Msr(kMsrStar, 0),
      Msr(kMsrCstar, 0),
      Msr(kMsrKernelGsBase, 0),
      Msr(kMsrSyscallMask, 0),
      Msr(kMsrLstar, 0),
      Msr(kMsrIa32Tsc, 0),
      Msr(kMsrIa32MiscEnable, kMiscEnableFastString),
      Msr(kMsrMtrrDefType, kMtrrDefTypeEnabledWriteBack),
  };
}

}  // namespace vmmd
