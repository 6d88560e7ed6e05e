// Adds (or replaces) a SCRAM-SHA-512 user on a running broker, through its plaintext listener.
// scripts/deps.mjs runs it with Java's source launcher only for a deps folder whose storage was
// formatted before the SASL_SSL listener existed (newer folders get the user at format time):
//   PLAYS_SCRAM_PASSWORD=... java -cp 'libs/*' deps/kafka/AddScramUser.java 127.0.0.1:9092 plays
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

public class AddScramUser {
  public static void main(String[] args) throws Exception {
    String password = System.getenv("PLAYS_SCRAM_PASSWORD");
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", args[0]))) {
      ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096);
      admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(args[1], info, password))).all().get();
    }
  }
}
