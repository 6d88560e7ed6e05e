// Writes the private key of one entry of a PKCS12 keystore as an unencrypted PKCS#8 PEM file, the
// form Node's TLS takes (keytool cannot). scripts/deps.mjs runs it with Java's source launcher for the
// throwaway client key of the broker's mutual-TLS listener:
//   PLAYS_STORE_PASSWORD=... java deps/kafka/ExportKey.java client.p12 client client-key.pem
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.Base64;

public class ExportKey {
  public static void main(String[] args) throws Exception {
    char[] password = System.getenv("PLAYS_STORE_PASSWORD").toCharArray();
    KeyStore store = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(args[0])) {
      store.load(in, password);
    }
    byte[] pkcs8 = store.getKey(args[1], password).getEncoded();
    String body = Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(pkcs8);
    Files.writeString(Path.of(args[2]), "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n");
  }
}
