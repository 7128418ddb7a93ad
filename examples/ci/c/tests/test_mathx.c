#include <stdio.h>
#include "../src/mathx.h"

static int failures;

#define CHECK(expr) do { if (!(expr)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #expr); failures++; } else { printf("ok   %s\n", #expr); } } while (0)

int main(void)
{
    CHECK(mathx_gcd(12, 18) == 6);
    CHECK(mathx_gcd(-4, 6) == 2);
    CHECK(mathx_gcd(7, 0) == 7);
    CHECK(mathx_is_prime(2));
    CHECK(mathx_is_prime(97));
    CHECK(!mathx_is_prime(1));
    CHECK(!mathx_is_prime(91));
    printf("%d failure(s)\n", failures);
    return failures != 0;
}
