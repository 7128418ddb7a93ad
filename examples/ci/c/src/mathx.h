#ifndef MATHX_H
#define MATHX_H
int mathx_gcd(int a, int b);
int mathx_is_prime(int n);
#endif
