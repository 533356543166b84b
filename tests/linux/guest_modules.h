// Loads the kernel modules of a Linux guest's initramfs (the drive test's and the block
// benchmark's): /modules/load-order, written by tests/linux/fetch_kernels.sh, names them in
// dependency order, and each is loaded with finit_module(2). The last, virtio_mmio_cmdline.ko,
// gets /proc/cmdline's virtio_mmio.device= values as its device= parameters: it stands in
// for CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, which Debian's kernels lack. Static programs, libc
// only.
#ifndef VMMD_TESTS_LINUX_GUEST_MODULES_H_
#define VMMD_TESTS_LINUX_GUEST_MODULES_H_

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// `cmdline`'s virtio_mmio.device= values as "device=A device=B ..." in `params`.
static void virtio_mmio_device_params(const char* cmdline, char* params, size_t size) {
  static const char kKey[] = "virtio_mmio.device=";
  params[0] = '\0';
  size_t used = 0;
  for (const char* p = cmdline; (p = strstr(p, kKey)) != NULL;) {
    const int whole_word = p == cmdline || p[-1] == ' ';  // not part of another parameter
    p += strlen(kKey);
    if (!whole_word) continue;
    size_t length = strcspn(p, " \n");
    int n = snprintf(params + used, size - used, "%sdevice=%.*s", used ? " " : "", (int)length, p);
    if (n < 0 || (size_t)n >= size - used) break;
    used += (size_t)n;
    p += length;
  }
}

struct guest_modules {
  int loaded, failed;
  char first_error[512];  // "NAME: reason" of the first failure
  char device_params[4096];  // what virtio_mmio_cmdline.ko was given
};

// Loads every module of /modules/load-order; one already loaded counts as loaded.
static struct guest_modules load_guest_modules(const char* cmdline) {
  struct guest_modules result;
  memset(&result, 0, sizeof(result));
  FILE* order = fopen("/modules/load-order", "r");
  if (order == NULL) {
    snprintf(result.first_error, sizeof(result.first_error), "no /modules/load-order in the initramfs");
    result.failed = 1;
    return result;
  }
  char name[256], path[300];
  while (fgets(name, sizeof(name), order) != NULL) {
    name[strcspn(name, "\n")] = '\0';
    if (name[0] == '\0') continue;
    snprintf(path, sizeof(path), "/modules/%s", name);
    const char* params = "";
    if (strcmp(name, "virtio_mmio_cmdline.ko") == 0) {
      virtio_mmio_device_params(cmdline, result.device_params, sizeof(result.device_params));
      params = result.device_params;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long loaded = fd < 0 ? -1 : syscall(SYS_finit_module, fd, params, 0);
    int error = errno;
    if (fd >= 0) close(fd);
    if (loaded != 0 && error != EEXIST) {
      if (result.failed++ == 0) {
        snprintf(result.first_error, sizeof(result.first_error), "%s: %s", name, strerror(error));
      }
    } else {
      ++result.loaded;
    }
  }
  fclose(order);
  return result;
}

#endif  // VMMD_TESTS_LINUX_GUEST_MODULES_H_
