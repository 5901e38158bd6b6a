"""Word pools for plausible text, and the awkward strings every loader must survive."""

from __future__ import annotations

SUBJECTS = (
    "Biology", "Chemistry", "Physics", "Algebra", "Calculus", "Statistics", "History",
    "Geography", "Literature", "Philosophy", "Economics", "Psychology", "Sociology",
    "Art History", "Music Theory", "Computer Science", "Data Science", "Nursing",
    "Accounting", "Marketing", "Spanish", "French", "German", "Latin", "Astronomy",
)  # fmt: skip
TOPICS = (
    "Introduction to", "Foundations of", "Advanced", "Topics in", "Seminar in",
    "Principles of", "Applied", "Research Methods in", "Workshop:", "Readings in",
)  # fmt: skip
THINGS = (
    "Quiz", "Essay", "Lab Report", "Problem Set", "Reflection", "Discussion", "Project",
    "Midterm", "Final Exam", "Presentation", "Reading Response", "Peer Review", "Module",
    "Unit", "Syllabus", "Announcement", "Worksheet", "Case Study", "Journal", "Poster",
)  # fmt: skip
FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Bea", "Carlos", "Chen", "Dana", "Elif", "Emma", "Farah",
    "Grace", "Hiro", "Ines", "Jonas", "Kwame", "Lena", "Luca", "Maya", "Noor", "Olga",
    "Priya", "Quinn", "Rafael", "Sofia", "Tariq", "Uma", "Viktor", "Wei", "Yara", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Okafor", "Smith", "García", "Müller", "Nakamura", "Kowalski", "Haddad", "Nguyen",
    "O'Brien", "Rossi", "Silva", "Johansson", "Dubois", "Ivanova", "Patel", "Kim",
    "Andersen", "Costa", "Novak", "Fischer", "Mensah", "Lindqvist", "Moreau", "Sato",
)  # fmt: skip
SENTENCES = (
    "Please read chapter three before class.",
    "Great work on the analysis; cite your sources next time.",
    "Submit the draft by Friday at noon.",
    "The lab is moved to room 204 this week.",
    "Remember to include your student ID on every page.",
    "Office hours are on Tuesdays and Thursdays.",
    "This assignment counts toward the final grade.",
    "Discuss the results with your group and post a summary.",
    "Resubmission is allowed until the end of the term.",
    "See the rubric for the grading criteria.",
)
LOCALES = ("en", "en-GB", "en-AU", "es", "fr", "de", "pt-BR", "nl", "ja", "zh-Hans")
TIME_ZONES = (
    "America/Denver", "America/New_York", "America/Chicago", "America/Los_Angeles",
    "Europe/London", "Europe/Amsterdam", "Australia/Sydney", "Asia/Tokyo", "UTC",
)  # fmt: skip
GRADES = ("A", "A-", "B+", "B", "B-", "C+", "C", "D", "F", "pass", "fail", "complete", "95", "87.5")
DOMAINS = ("canvas.example.edu", "lms.example.org", "learn.example.ac.uk")
URL_PATHS = ("/courses", "/files", "/users", "/assignments", "/api/v1/courses", "/login/canvas")
# Strings that break naive loaders: escapes, quotes, delimiters, blanks, look-alikes of
# NULL markers, non-ASCII. They appear now and then in free-text columns.
AWKWARD = (
    "",
    " ",
    "line one\nline two",
    "tab\tseparated",
    'a "quoted" word',
    "comma, separated",
    "back\\slash and \\N",
    "\\N",
    "NULL",
    "carriage\r\nreturn",
    "café naïve façade",
    "漢字とかな",
    "emoji 🎓📚",
    "  padded  ",
    "semi;colon|pipe",
    "form\ffeed and vertical\vtab and \bbackspace",
)
