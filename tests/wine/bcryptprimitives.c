/* A stand-in for Windows' bcryptprimitives.dll, for Wine 8 only.
 *
 * Rust's standard library (1.78 on) takes its random numbers from ProcessPrng in
 * bcryptprimitives.dll, which every Windows Tincan supports (10 and 11) has. Wine 8, the
 * Wine Debian 12 ships, does not, so a Windows build of Tincan does not start under it.
 * tests/src/wine.rs builds this into the test's own Wine prefix; nothing installed for
 * people carries it. It asks the same generator Windows' own did before ProcessPrng
 * (RtlGenRandom, advapi32's SystemFunction036), which Wine has.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
