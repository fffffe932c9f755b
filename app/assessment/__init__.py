"""Understanding quizzes (理解度テスト) and post-course surveys (アンケート)."""
