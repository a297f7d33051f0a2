"""Hand-written corpus pieces for the tokenizer fixtures (our own text; no third-party data).

make_fixtures.py combines these with generated text (random scripts, emoji, whitespace, long
runs) and records tiktoken's ids for all of it.
"""

PROSE = {
    "english": "The quick brown fox jumps over the lazy dog. It's 5:30 p.m., and we've got 2 hours left!\n"
               "\"Don't panic,\" she said; \"we'll figure it out.\" I'd rather not—really.",
    "english_caps": "THIS IS A HEADLINE: DON'T MISS IT! WE'RE LIVE AT 9PM. THEY'LL BE THERE. I'M SURE HE'D AGREE.",
    "french": "L'été dernier, nous sommes allés à Montréal. C'était magnifique ! « Où est la gare ? » "
              "demanda-t-il. Ça coûte 12,50 €.",
    "german": "Größere Straßen führen über die Brücke. Die Mädchen aßen Äpfel und Öl. ẞ ist selten; "
              "Donaudampfschifffahrtsgesellschaftskapitän.",
    "spanish": "¿Dónde está la biblioteca? ¡Qué día tan bonito! El niño comió piña y jalapeños en Año Nuevo.",
    "portuguese": "A inflação subiu 3,2% em março. Não sei se vou conseguir — talvez amanhã. Coração, ação, pão.",
    "italian": "Perché l'uomo è così felice? Perché ha mangiato la pizza più buona della città.",
    "polish": "Zażółć gęślą jaźń. Łódź jest dużym miastem; pójdę tam jutro o 7:45.",
    "czech": "Příliš žluťoučký kůň úpěl ďábelské ódy. Čtvrtek, středa, pátek.",
    "turkish": "İstanbul'da yaşıyorum. Işık, ılık, ığdır; büyük şehir ve güzel çiçekler. I ı İ i.",
    "vietnamese": "Tiếng Việt có nhiều dấu: ă, â, ê, ô, ơ, ư, đ. Người ta nói rằng học không bao giờ muộn.",
    "romanian": "Știința și țara noastră: învățământul este important. Mâine plouă.",
    "hungarian": "Árvíztűrő tükörfúrógép. Győr, Pécs és Szeged is szép városok.",
    "finnish": "Hyvää huomenta! Järvellä on jäätä, ja lapset leikkivät pihalla.",
    "icelandic": "Þórður og Ægir fóru á fjöllin. Það var kalt, en sólin skein.",
    "russian": "Съешь же ещё этих мягких французских булок, да выпей чаю. В 2024 году — 365 дней?",
    "ukrainian": "Гей, хлопці, їжте ґрунтовні страви! Єдність і свобода — це важливо.",
    "bulgarian": "Щастието е в малките неща. Живот без любов е като дърво без плод.",
    "serbian": "Ђорђе је рекао: „Ћути и слушај.“ Ljubav, džem, šešir.",
    "greek": "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Η Ελλάδα έχει πολλά νησιά· ποιο είναι το αγαπημένο σου;",
    "armenian": "Բարև ձեզ, ինչպե՞ս եք։ Երևանը Հայաստանի մայրաքաղաքն է։",
    "georgian": "გამარჯობა, როგორ ხარ? საქართველო ლამაზი ქვეყანაა.",
    "hebrew": "שָׁלוֹם עֲלֵיכֶם! ירושלים היא עיר עתיקה. מה שלומך היום?",
    "arabic": "مرحبًا بكم في المكتبة. اللُّغَةُ العَرَبِيَّةُ جميلة جدًا، أليس كذلك؟ العدد ١٢٣٤٥.",
    "persian": "سلام! حال شما چطور است؟ کتاب‌ها روی میز هستند. ۱۴۰۲ سال خوبی بود.",
    "urdu": "اردو ایک خوبصورت زبان ہے۔ آپ کیسے ہیں؟",
    "hindi": "नमस्ते, आप कैसे हैं? भारत एक विशाल देश है। क्षत्रिय, ज्ञान, श्री। १२३४५",
    "bengali": "আমি বাংলায় গান গাই। ঢাকা বাংলাদেশের রাজধানী।",
    "punjabi": "ਸਤ ਸ੍ਰੀ ਅਕਾਲ! ਤੁਸੀਂ ਕਿਵੇਂ ਹੋ?",
    "gujarati": "કેમ છો? ગુજરાતી ભાષા સુંદર છે.",
    "tamil": "வணக்கம்! தமிழ் ஒரு பழமையான மொழி. நன்றி.",
    "telugu": "నమస్కారం! తెలుగు భాష చాలా మధురమైనది.",
    "kannada": "ನಮಸ್ಕಾರ! ಕನ್ನಡ ಭಾಷೆ ಸುಂದರವಾಗಿದೆ.",
    "malayalam": "നമസ്കാരം! മലയാളം ഒരു മനോഹരമായ ഭാഷയാണ്.",
    "sinhala": "ආයුබෝවන්! ඔබට කොහොමද?",
    "thai": "สวัสดีครับ วันนี้อากาศดีมาก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "lao": "ສະບາຍດີ! ພາສາລາວງາມຫຼາຍ.",
    "khmer": "សួស្តី! ភាសាខ្មែរមានអក្សរច្រើន។",
    "burmese": "မင်္ဂလာပါ။ မြန်မာဘာသာစကား။",
    "tibetan": "བཀྲ་ཤིས་བདེ་ལེགས། བོད་ཡིག",
    "mongolian_cyrillic": "Сайн байна уу? Монгол хэл сайхан.",
    "mongolian_script": "ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ᠌ ᠬᠡᠯᠡ ᠠ᠎ᠠ ᠨᠠᠷᠠ",
    "amharic": "ሰላም! እንዴት ነህ? ኢትዮጵያ ውብ ሀገር ናት።",
    "cherokee": "ᎣᏏᏲ! ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ.",
    "inuktitut": "ᐊᐃᖓᐃ! ᐃᓄᒃᑎᑐᑦ ᐅᖃᐅᓯᖅ.",
    "chinese_simplified": "我们今天去北京的图书馆学习人工智能。这是一个测试：中文没有空格，对吗？",
    "chinese_traditional": "臺灣的夜市非常熱鬧，小吃種類繁多。「你好嗎？」他問。",
    "japanese": "今日は良い天気ですね。カタカナとひらがな、そして漢字を使います。ｶﾀｶﾅ半角も。",
    "korean": "안녕하세요! 한국어는 아름다운 언어입니다. 서울에서 만나요.",
    "swahili": "Habari gani? Ninapenda kusoma vitabu vya Kiswahili.",
    "yoruba": "Ẹ kú àárọ̀! Báwo ni? Ọmọ mi ń lọ sí ilé-ìwé.",
    "esperanto": "Eĥoŝanĝo ĉiuĵaŭde. Ĝis revido!",
    "latin": "Gallia est omnis divisa in partes tres. Cōgitō, ergō sum.",
    "maori": "Kia ora! Ko Aotearoa tōku whenua. Tēnā koe.",
    "hawaiian": "Aloha ʻoe! ʻŌlelo Hawaiʻi.",
    "navajo": "Yáʼátʼééh! Diné bizaad yáʼátʼééh.",
    "ipa": "ðə kwɪk bɹaʊn fɒks dʒʌmps ˈoʊvɚ ðə ˈleɪzi dɒɡ",
    "math": "∀x ∈ ℝ: x² ≥ 0. ∑_{i=1}^{n} i = n(n+1)/2. ∫₀^∞ e^{−x} dx = 1. α≠β, √2≈1.414, ∞ ⊂ ∅?",
    "latex": "\\begin{equation}\n  E = mc^2 \\quad \\text{and} \\quad \\nabla \\cdot \\mathbf{E} = \\frac{\\rho}{\\varepsilon_0}\n\\end{equation}",
    "markdown": "# Title\n\n## Sub-title\n\n- item **bold** and _italic_\n- [link](https://example.com/a/b?c=d&e=f#g)\n\n> quote\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "urls_emails": "Visit https://www.example.org/path/to/page.html?query=1&x=%20y or mailto:someone@example.co.uk, "
                   "ftp://files.example.net/pub/, C:\\Users\\Name\\Documents\\file.txt, /usr/local/bin/python3.",
    "chat_template": "<|start|>user<|message|>What's 2+2?<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>"
                     "<|endoftext|><|startoftext|><|endofprompt|><|reserved_200018|><|constrain|><|call|><|reserved_201087|>",
    "typography": "“Curly quotes” ‘single’ — em dash – en dash … ellipsis • bullet ‹›«» ¶ § © ® ™ ° ± × ÷ ¿¡",
    "currency": "$100, €50, £30, ¥1000, ₹500, ₩10000, ₿0.5, ¢99, ₽200, ₺15, ₫20000",
    "fullwidth": "ＡＢＣ　ａｂｃ　１２３！？　（全角）",
    "numbers_mixed": "v1.2.3-rc4, 3.14159, 1e-10, 0xDEADBEEF, 1,000,000.00, 2024-11-23T05:06:07Z, +1 (555) 123-4567",
}

CODE = {
    "python": '''import os
from typing import Optional


class Tokenizer:
    """Splits text into tokens."""

    def __init__(self, path: str, *, cache: Optional[dict] = None) -> None:
        self._path = os.path.expanduser(path)
        self._cache = cache or {}

    def encode(self, text: str) -> list[int]:
        if text in self._cache:
            return self._cache[text]
        ids = [ord(c) % 256 for c in text]  # placeholder
        self._cache[text] = ids
        return ids


if __name__ == "__main__":
    t = Tokenizer("~/vocab.txt")
    print(t.encode("hello\\tworld\\n"), f"{len(t._cache)=}")
''',
    "cpp": '''#include <vector>
#include <string_view>

template <typename T>
constexpr T Clamp(T v, T lo, T hi) noexcept { return v < lo ? lo : (hi < v ? hi : v); }

int main(int argc, char** argv) {
  std::vector<int> xs{1, 2, 3};
  for (auto& x : xs) x <<= 2;  // shift
  if (argc > 1 && argv[1][0] == '-') return -1;
  return xs.size() != 3 ? 1 : 0;
}
''',
    "rust": '''fn main() {
    let v: Vec<u32> = (0..10).map(|x| x * x).collect();
    match v.get(3) {
        Some(&n) if n > 5 => println!("big: {n}"),
        _ => {}
    }
    let s = String::from("héllo");
    assert_eq!(s.chars().count(), 5);
}
''',
    "javascript": '''const fetchData = async (url) => {
  try {
    const res = await fetch(url, { method: 'GET', headers: { 'Accept': 'application/json' } });
    return res.ok ? await res.json() : null;
  } catch (e) {
    console.error(`failed: ${e.message}`);
  }
};
export default fetchData;
''',
    "go": '''package main

import "fmt"

func main() {
\tch := make(chan int, 3)
\tgo func() { ch <- 42 }()
\tfmt.Printf("%d\\n", <-ch)
}
''',
    "sql": '''SELECT u.id, COUNT(o.id) AS orders
FROM users u LEFT JOIN orders o ON o.user_id = u.id
WHERE u.created_at >= '2024-01-01' AND u.email LIKE '%@example.com'
GROUP BY u.id HAVING COUNT(o.id) > 5 ORDER BY orders DESC LIMIT 10;
''',
    "html": '''<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Test &amp; demo</title></head>
<body>
  <div class="container" id='main'><p>Hello&nbsp;world &lt;3</p></div>
  <script>document.querySelector('#main').hidden = false;</script>
</body>
</html>
''',
    "json": '''{"name": "gpt-oss", "version": "1.0.0", "layers": 36, "experts": [0, 1, 2, 3],
 "nested": {"a": null, "b": true, "c": -1.5e-3, "unicode": "\\u00e9\\ud83d\\ude00"}}
''',
    "yaml": '''apiVersion: apps/v1
kind: Deployment
metadata:
  name: gptoss-coordinator
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: coordinator
          image: "gptoss:latest"
          args: ["--port=8080", "--workers=8"]
''',
    "shell": '''#!/usr/bin/env bash
set -euo pipefail
for f in *.txt; do
  [[ -s "$f" ]] || continue
  wc -l "$f" | awk '{print $1}' >> counts.log 2>&1
done
echo "done: $(date +%s)"
''',
    "crlf_windows": "line one\r\nline two\r\n\r\n\tindented\r\nend",
    "diff": '''diff --git a/x.py b/x.py
--- a/x.py
+++ b/x.py
@@ -1,3 +1,4 @@
 def f():
-    return 1
+    return 2
+
''',
}
