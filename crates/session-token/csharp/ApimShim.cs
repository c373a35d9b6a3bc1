// Stand-ins for the APIM policy-expression extension methods `byte[].Encrypt/Decrypt(string alg,
// byte[] key, byte[] iv)`, with the documented defaults (CBC, PKCS#7), so the sketch in
// docs/session-token.md compiles and runs outside APIM.
using System;
using System.Security.Cryptography;

public static class ApimCryptoExtensions
{
    static byte[] Transform(byte[] input, string alg, byte[] key, byte[] iv, bool encrypt)
    {
        using (SymmetricAlgorithm a = SymmetricAlgorithm.Create(alg))
        {
            if (a.Mode != CipherMode.CBC || a.Padding != PaddingMode.PKCS7)
                throw new InvalidOperationException("defaults are not CBC/PKCS7");
            a.Key = key;
            a.IV = iv;
            using (ICryptoTransform t = encrypt ? a.CreateEncryptor() : a.CreateDecryptor())
            {
                return t.TransformFinalBlock(input, 0, input.Length);
            }
        }
    }

    public static byte[] Encrypt(this byte[] input, string alg, byte[] key, byte[] iv)
    {
        return Transform(input, alg, key, iv, true);
    }

    public static byte[] Decrypt(this byte[] input, string alg, byte[] key, byte[] iv)
    {
        return Transform(input, alg, key, iv, false);
    }
}
