// Debian's libopenblas-dev installs cblas.h through the alternatives system
// (/usr/include/x86_64-linux-gnu/cblas.h); openblas_set_num_threads lives in
// the same header.
#include <cblas.h>
