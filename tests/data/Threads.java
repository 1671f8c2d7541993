// A small multi-threaded Java program for the LD_PRELOAD test: the JVM is a
// demanding malloc user (many native threads, its JIT compilers, signals).
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public class Threads {
  public static void main(String[] args) throws Exception {
    List<Thread> threads = new ArrayList<>();
    long[] sums = new long[4];
    for (int t = 0; t < 4; t++) {
      final int id = t;
      Thread th = new Thread(() -> {
        Map<String, Integer> m = new HashMap<>();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 100000; i++) {
          m.put("k" + (i % 5000), i);
          sb.append(i % 10);
        }
        sums[id] = sb.length() + m.size();
      });
      th.start();
      threads.add(th);
    }
    for (Thread th : threads) th.join();
    long total = 0;
    for (long s : sums) total += s;
    System.out.println("java workload ok " + total);
  }
}
