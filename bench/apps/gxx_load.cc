// app_gxx: the C++ translation unit the head-to-head runner compiles with
// `g++ -std=c++17 -O2 -c` under each allocator (bench/README.md, "App
// experiments"). It is never run; it exists to make the compiler work the way
// ordinary C++ code does: class templates instantiated over many types, the
// standard containers and algorithms, lambdas, std::variant and std::function,
// so that cc1plus builds and frees a great many trees and symbol tables.
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace load {

// A keyed collection with an index, a history and a few queries; instantiated
// below for many key/value pairs.
template <typename Key, typename Value>
class Ledger {
 public:
  using Entry = std::pair<Key, Value>;

  void Put(const Key& k, const Value& v) {
    history_.push_back({k, v});
    auto [it, inserted] = index_.try_emplace(k, v);
    if (!inserted) it->second = v;
    ordered_.insert(k);
  }

  std::optional<Value> Get(const Key& k) const {
    auto it = index_.find(k);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }

  template <typename Pred>
  std::vector<Entry> Select(Pred pred) const {
    std::vector<Entry> out;
    std::copy_if(history_.begin(), history_.end(), std::back_inserter(out),
                 [&](const Entry& e) { return pred(e.first, e.second); });
    std::stable_sort(out.begin(), out.end(),
                     [](const Entry& a, const Entry& b) { return a.first < b.first; });
    return out;
  }

  template <typename Acc, typename Fold>
  Acc Reduce(Acc init, Fold fold) const {
    return std::accumulate(history_.begin(), history_.end(), init,
                           [&](Acc acc, const Entry& e) { return fold(acc, e.second); });
  }

  std::map<Key, std::size_t> Counts() const {
    std::map<Key, std::size_t> counts;
    for (const auto& e : history_) ++counts[e.first];
    return counts;
  }

  std::size_t Distinct() const { return ordered_.size(); }

 private:
  std::vector<Entry> history_;
  std::map<Key, Value> index_;
  std::set<Key> ordered_;
};

template <typename T>
struct Tagged {
  T value{};
  std::string tag;
  bool operator<(const Tagged& o) const { return std::tie(value, tag) < std::tie(o.value, o.tag); }
  bool operator==(const Tagged& o) const { return value == o.value && tag == o.tag; }
};

template <typename T>
std::string Describe(const T& v) {
  std::ostringstream out;
  if constexpr (std::is_arithmetic_v<T>) {
    out << v;
  } else if constexpr (std::is_same_v<T, std::string>) {
    out << '"' << v << '"';
  } else {
    out << Describe(v.value) << '#' << v.tag;
  }
  return out.str();
}

template <typename T>
T Make(int i) {
  if constexpr (std::is_arithmetic_v<T>) {
    return static_cast<T>(i * 7 % 101);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "s" + std::to_string(i * 13 % 97);
  } else {
    return T{Make<decltype(T{}.value)>(i), std::to_string(i % 5)};
  }
}

template <typename T>
double Weight(const T& v) {
  if constexpr (std::is_arithmetic_v<T>) {
    return static_cast<double>(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return static_cast<double>(v.size());
  } else {
    return Weight(v.value) + static_cast<double>(v.tag.size());
  }
}

// One exercise of a Ledger<K, V>: fill, query, fold, describe.
template <typename K, typename V>
std::string Exercise(int n) {
  Ledger<K, V> ledger;
  for (int i = 0; i < n; ++i) ledger.Put(Make<K>(i), Make<V>(i * 3));
  const auto picked = ledger.Select([](const K& k, const V& v) { return Weight(k) < Weight(v); });
  const double total = ledger.template Reduce<double>(0.0, [](double acc, const V& v) {
    return acc + Weight(v);
  });
  std::string out = Describe(Make<K>(n)) + ":" + std::to_string(picked.size()) + ":" +
                    std::to_string(total) + ":" + std::to_string(ledger.Distinct());
  for (const auto& [k, c] : ledger.Counts()) {
    if (c > 1) out += "," + Describe(k);
  }
  if (auto v = ledger.Get(Make<K>(1))) out += "=" + Describe(*v);
  return out;
}

// Every ordered pair of these types gets its own Ledger and Exercise.
template <typename... Ts>
struct Types {};

using Scalars = Types<int>;
using Strings = Types<std::string>;

template <typename K, typename... Vs>
void ExerciseRow(std::vector<std::string>* out, int n, Types<Vs...>) {
  (out->push_back(Exercise<K, Vs>(n)), ...);
}

template <typename... Ks, typename VList>
void ExerciseAll(std::vector<std::string>* out, int n, Types<Ks...>, VList vs) {
  (ExerciseRow<Ks>(out, n, vs), ...);
}

// A small expression evaluator over std::variant, visited with overloaded lambdas.
template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;
struct Num { double v; };
struct Var { std::string name; };
struct Bin { char op; ExprPtr lhs, rhs; };
struct Call { std::string fn; std::vector<ExprPtr> args; };
struct Expr { std::variant<Num, Var, Bin, Call> node; };

double Eval(const ExprPtr& e, const std::unordered_map<std::string, double>& env,
            const std::map<std::string, std::function<double(const std::vector<double>&)>>& fns) {
  return std::visit(
      Overloaded{
          [](const Num& n) { return n.v; },
          [&](const Var& v) {
            auto it = env.find(v.name);
            return it == env.end() ? 0.0 : it->second;
          },
          [&](const Bin& b) {
            const double l = Eval(b.lhs, env, fns), r = Eval(b.rhs, env, fns);
            switch (b.op) {
              case '+': return l + r;
              case '-': return l - r;
              case '*': return l * r;
              default: return r != 0 ? l / r : 0.0;
            }
          },
          [&](const Call& c) {
            std::vector<double> args;
            std::transform(c.args.begin(), c.args.end(), std::back_inserter(args),
                           [&](const ExprPtr& a) { return Eval(a, env, fns); });
            auto it = fns.find(c.fn);
            return it == fns.end() ? 0.0 : it->second(args);
          }},
      e->node);
}

ExprPtr Build(int depth, int seed) {
  if (depth == 0) {
    return seed % 2 ? std::make_shared<Expr>(Expr{Num{static_cast<double>(seed % 10)}})
                    : std::make_shared<Expr>(Expr{Var{"x" + std::to_string(seed % 4)}});
  }
  if (seed % 5 == 0) {
    return std::make_shared<Expr>(
        Expr{Call{seed % 3 ? "max" : "sum", {Build(depth - 1, seed * 3 + 1), Build(depth - 1, seed + 7)}}});
  }
  return std::make_shared<Expr>(
      Expr{Bin{"+-*/"[seed % 4], Build(depth - 1, seed * 5 + 2), Build(depth - 1, seed * 7 + 3)}});
}

}  // namespace load

int main() {
  std::vector<std::string> out;
  load::ExerciseAll(&out, 50, load::Scalars{}, load::Strings{});
  load::ExerciseAll(&out, 50, load::Strings{}, load::Scalars{});
  load::ExerciseAll(&out, 50, load::Strings{}, load::Strings{});

  std::unordered_map<std::string, double> env = {{"x0", 1}, {"x1", 2}, {"x2", 3}, {"x3", 4}};
  std::map<std::string, std::function<double(const std::vector<double>&)>> fns = {
      {"sum", [](const std::vector<double>& a) { return std::accumulate(a.begin(), a.end(), 0.0); }},
      {"max", [](const std::vector<double>& a) { return *std::max_element(a.begin(), a.end()); }}};
  double acc = 0;
  for (int i = 0; i < 20; ++i) acc += load::Eval(load::Build(6, i), env, fns);

  std::size_t h = std::hash<double>{}(acc);
  for (const auto& s : out) h = h * 31 + std::hash<std::string>{}(s);
  return static_cast<int>(h % 2);
}
