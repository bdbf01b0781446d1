// Debian's libopenblas-dev installs cblas.h through the alternatives system
// (/usr/include/x86_64-linux-gnu/cblas.h); openblas_set_num_threads lives in
// the same header.
#include <cblas.h>

// LAPACK's symmetric eigensolver (OpenBLAS ships LAPACK; Debian installs no
// lapack.h beside cblas.h). The trailing lengths are gfortran's hidden
// CHARACTER arguments.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);
