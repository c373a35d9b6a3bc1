// Deterministic seal for the vectors: the sketch's Seal with a caller-chosen IV (mirrors
// `seal_with_iv` in Rust). Kept apart so the documented Seal keeps its fresh-IV form.
using System;
using System.Security.Cryptography;
using System.Text;

public static partial class SessionToken
{
    public static string SealWithIv(byte[] encKey, byte[] macKey, string claimsJson, byte[] iv)
    {
        byte[] ct = Encoding.UTF8.GetBytes(claimsJson).Encrypt("Aes", encKey, iv);
        byte[] token = new byte[1 + 16 + ct.Length + 32];
        token[0] = 0x01;
        Array.Copy(iv, 0, token, 1, 16);
        Array.Copy(ct, 0, token, 17, ct.Length);
        byte[] tag;
        using (var h = new HMACSHA256(macKey)) { tag = h.ComputeHash(token, 0, 17 + ct.Length); }
        Array.Copy(tag, 0, token, 17 + ct.Length, 32);
        return B64Url(token);
    }
}
