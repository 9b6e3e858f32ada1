/**
 * Word lists behind the prompt signals (complexity.ts, classifier.ts), one bit
 * per category, looked up by a 30-bit hash of the lower-cased word during the
 * single scan in text-scan.ts.
 *
 * Why hashes, not strings: the scan never builds a word string (no slice, no
 * toLowerCase allocation), it folds each character into an FNV-1a hash as it
 * goes; 30 bits keep every key a small integer, so Map.get stays on V8's fast
 * path. What can go wrong: a prompt word whose hash collides with a listed
 * word counts in that category. With ~700 listed words the chance per prompt
 * word is ~7e-7; deterministic, and harmless for a heuristic.
 *
 * Lists are English only, with the inflections written out (no stemmer).
 * Editing a list changes the complexity score and the classifier: re-run
 * `npm run calibrate-signals` and the tests, and update docs/routing-signals.md.
 */

export const CAT = {
  TECH: 1 << 0,       // technical vocabulary (engineering, science)
  CODE: 1 << 1,       // programming words and keywords
  STEP: 1 << 2,       // multi-step instruction markers
  MATH: 1 << 3,       // mathematics
  REASON: 1 << 4,     // argument, explanation, analysis
  CREATIVE: 1 << 5,   // fiction, verse, ideation
  EXTRACT: 1 << 6,    // pulling structured data out of text
  SUMMARY: 1 << 7,    // condensing text
  TRANSLATE: 1 << 8,  // translation verbs
  LANGUAGE: 1 << 9,   // language names
  CLASSIFY: 1 << 10,  // labelling, categorising, sentiment
  QUESTION: 1 << 11,  // wh-words
  CLAUSE: 1 << 12,    // subordinating conjunctions (sentence structure)
  GREETING: 1 << 13,  // small talk
} as const;
export const N_CAT = 14;

const LISTS: Record<keyof typeof CAT, string> = {
  TECH: `algorithm algorithms architecture api apis asynchronous async bandwidth bayesian benchmark cache caching cluster
    compiler complexity concurrency concurrent configuration container containers database databases deploy deployment
    distributed docker eigenvalue eigenvalues encryption entropy enzyme gradient heuristic hypothesis implementation
    inference infrastructure kernel kubernetes latency linux microservice microservices molecule molecular mutex neural
    network networks optimization optimize optimise optimisation parameter parameters pipeline polynomial protocol protein
    quantum recursion recursive regression scalability scalable schema semaphore server servers statistical statistics
    tensor throughput thermodynamics transaction transactions variance vector vectors asymptotic dataset datasets
    http https tcp udp dns sql nosql json yaml xml regex cpu gpu memory thread threads multithreaded backend frontend
    authentication authorization oauth token tokens embedding embeddings transformer transformers classifier
    hyperparameter hyperparameters convolution convolutional stochastic covariance correlation differential photosynthesis
    genome chromosome mitochondria isotope electron electrons voltage circuit wavelength frequency momentum velocity
    acceleration`,
  CODE: `function functions def return returns class classes import const let var int integer string strings bool boolean
    void public private static await lambda python javascript typescript java rust golang kotlin swift ruby php perl scala
    haskell bash shell code coding script program programming compile compiles bug bugs exception exceptions stacktrace
    array arrays list lists dict dictionary dictionaries tuple tuples loop loops variable variables method methods snippet
    println printf console npm pip git null undefined elif foreach struct enum interface typedef namespace fn impl func
    refactor debug debugging unittest pytest regex sql html css react node nodejs django flask api endpoint
    recursion recursive iterate iterator boolean substring sublist char chars argument arguments`,
  STEP: `first firstly second secondly third thirdly then next finally lastly step steps afterwards subsequently additionally
    furthermore moreover stage phase`,
  MATH: `solve equation equations calculate compute prove proof theorem lemma sum probability percent percentage
    fraction fractions divide divided multiply multiplied plus minus sqrt square squared root roots prime primes factor
    factors factorial matrix matrices algebra geometry triangle angle radius area volume average median integral integrals
    derivative derivatives formula simplify exponent logarithm log modulo divisible gcd lcm arithmetic numeric digits
    integer integers irrational rational polynomial quadratic perimeter diameter circumference hypotenuse`,
  REASON: `why explain explanation reason reasoning therefore logic logical deduce infer implies conclude conclusion argument
    assume assumption compare contrast analyze analyse analysis justify cause causes consequence consequences puzzle riddle
    tradeoff tradeoffs pros cons decide strategy evaluate evidence hypothesis predict implication implications critique
    best likely most`,
  CREATIVE: `poem poems poetry story stories haiku limerick sonnet lyrics song songs novel fiction imagine creative narrative
    character characters plot fairy tale tales slogan slogans tagline taglines joke jokes rhyme rhyming verse screenplay dialogue fantasy
    metaphor brainstorm invent fictional protagonist villain chapter ballad essay`,
  EXTRACT: `extract extraction extracted parse parsing entities entity fields structured json csv table tabular emails
    addresses phone retrieve`,
  SUMMARY: `summarize summarise summarized summarised summary summaries summarization summarisation tldr condense shorten
    recap gist synopsis overview briefly digest outline abstract`,
  TRANSLATE: `translate translates translated translating translation translations translator`,
  LANGUAGE: `french spanish german italian chinese mandarin japanese korean portuguese russian arabic hindi dutch english
    swedish polish turkish greek hebrew latin vietnamese thai indonesian`,
  CLASSIFY: `classify classified classification categorize categorise categorized category categories label labels labeled
    sentiment positive negative neutral spam tag intent topic`,
  QUESTION: `what who whom whose where when how which why`,
  CLAUSE: `although though whereas unless however if because since whether despite otherwise while`,
  GREETING: `hi hello hey thanks thank howdy yo greetings bye goodbye cheers`,
};

/** FNV-1a over the lower-cased UTF-16 code units, masked to 30 bits. The scan computes the same fold inline. */
export function wordHash(w: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < w.length; i++) {
    let c = w.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h & 0x3fffffff;
}

/** hash -> OR of the categories the word is listed in. */
export const LEXICON: ReadonlyMap<number, number> = (() => {
  const m = new Map<number, number>();
  for (const [cat, words] of Object.entries(LISTS) as [keyof typeof CAT, string][]) {
    for (const w of words.split(/\s+/)) if (w) { const h = wordHash(w); m.set(h, (m.get(h) ?? 0) | CAT[cat]); }
  }
  return m;
})();

/** The lists themselves, for docs and tests. */
export function lexiconWords(cat: keyof typeof CAT): string[] {
  return LISTS[cat].split(/\s+/).filter(Boolean);
}
