# SPNEGO_CHECK_CFLAG(FLAG, ACTION-IF-OK, ACTION-IF-NOT)
# Compile an empty program with FLAG and -Werror; run the actions.
AC_DEFUN([SPNEGO_CHECK_CFLAG], [
  AS_VAR_PUSHDEF([cache], [spnego_cv_cflag_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [cache], [
    spnego_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -Werror $1"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([cache], [yes])], [AS_VAR_SET([cache], [no])])
    CFLAGS=$spnego_save_CFLAGS])
  AS_VAR_IF([cache], [yes], [$2], [$3])
  AS_VAR_POPDEF([cache])
])

# SPNEGO_CHECK_LDFLAG(FLAG, ACTION-IF-OK, ACTION-IF-NOT)
AC_DEFUN([SPNEGO_CHECK_LDFLAG], [
  AC_MSG_CHECKING([whether $CC links with $1])
  spnego_save_LDFLAGS=$LDFLAGS
  LDFLAGS="$LDFLAGS $1"
  AC_LINK_IFELSE([AC_LANG_SOURCE([[
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }
]])], [AC_MSG_RESULT([yes]); $2], [AC_MSG_RESULT([no]); $3])
  LDFLAGS=$spnego_save_LDFLAGS
])
