/*
 * tmpl_instances.h -- compile a template file once per element type.
 *
 * A .c file whose body is written once for float and double (gemm_internal.h's
 * FC_T, FC_SFX, ...) starts with
 *
 *     #ifndef FC_T
 *     ... its includes ...
 *     #define FC_TMPL_SELF "this_file.c"
 *     #include "tmpl_instances.h"
 *     #else
 *     ... the template body ...
 *     #endif
 *
 * and this header includes the file again with the float parameters, then with
 * the double ones, then undefines them. Deliberately no include guard: every
 * template file includes it.
 */
#ifndef FC_TMPL_SELF
#error "tmpl_instances.h: define FC_TMPL_SELF to the including file's name first"
#endif
#define FC_TMPL_SET 32
#include "gemm_internal.h"
#include FC_TMPL_SELF
#define FC_TMPL_SET 64
#include "gemm_internal.h"
#include FC_TMPL_SELF
#define FC_TMPL_SET 0
#include "gemm_internal.h"
#undef FC_TMPL_SELF
